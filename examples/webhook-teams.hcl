# Alerts in a Microsoft Teams channel first, mail as the fallback.
# Plugins: webhook (format "teams") and smtp-basic.
#
# On the Teams side, once (Office 365 connectors are retired; workflows
# replace them):
#
# 1. In the channel: ... > Workflows > "Send webhook alerts to a channel"
#    (or a new flow whose trigger is "When a Teams webhook request is
#    received" followed by "Post card in a chat or channel").
# 2. Pick the team and channel, save, and copy the URL the workflow shows.
#    It is the credential: anyone who has it can post. Keep it in a file
#    readable only by the tocsin user, or in the environment:
#
#      export TOCSIN_TEAMS_WEBHOOK_URL='https://...'
#      tocsin test-send -config examples/webhook-teams.hcl -transport teams -to ops@example.com
#
# The card shows the subject, the text, and the rule, event and severity.
# When the workflow is deleted or turned off, Teams answers 404 (or 403):
# the error is permanent, and the notification goes on at once to the
# next transport of the contact's via, mail here. A 429 or 5xx is retried
# on Teams after the Retry-After it asks for.

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "teams" {
  plugin = "webhook"
  from   = "Appliance A <appliance-a@example.com>"
  config {
    url    = env("TOCSIN_TEAMS_WEBHOOK_URL")
    format = "teams"
  }
}

transport "mail" {
  plugin = "smtp-basic"
  from   = "Appliance A <appliance-a@example.com>"
  config {
    host     = "mail.example.com"
    username = "appliance-a@example.com"
    password = env("TOCSIN_RELAY_PASSWORD")
  }
}

# Chat first, mail when Teams refuses for good or keeps failing.
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.teams, transport.mail]
}
