# Google Workspace: SMTP (smtp.gmail.com:587, STARTTLS) with OAuth2 through
# a service account with domain-wide delegation. Plugin: smtp-oauth-google.
#
# On the Google side, once:
#
# 1. Google Cloud console > IAM & Admin > Service accounts > Create service
#    account (no roles needed). On its Keys tab: Add key > Create new key >
#    JSON. Copy the file to the appliance, readable only by the agent:
#
#      install -m 0600 -o tocsin key.json /etc/tocsin/google-sa.json
#
# 2. Note the service account's Unique ID (a number: its OAuth client ID).
# 3. Google Admin console > Security > Access and data control > API
#    controls > Manage domain-wide delegation > Add new: that client ID,
#    scope https://mail.google.com/ . Without it the token request fails
#    with unauthorized_client; it can take up to 24 hours to apply.
# 4. subject is the Workspace user the mail is sent as; username and from
#    should be the same address.
#
# Without Workspace (a personal Gmail account), download an OAuth client
# ("Desktop app") JSON instead, set client_file to it (leave out
# service_account_file and subject) and sign in once with the browser flow:
#
#   tocsin oauth login -config examples/google-smtp.hcl -transport google
#
# Then:
#
#   tocsin test-send -config examples/google-smtp.hcl -transport google -to you@example.com

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "google" {
  plugin = "smtp-oauth-google"
  from   = "Appliance A <alerts@example.com>"
  config {
    service_account_file = "/etc/tocsin/google-sa.json"
    subject              = "alerts@example.com"
    # port = 465 with security = "tls" also works.
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.google]
}
