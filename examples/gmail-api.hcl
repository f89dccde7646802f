# Google Workspace through the Gmail API (users.messages.send), with a
# service account and domain-wide delegation. No SMTP at all; least
# privilege: the scope gmail.send can send and do nothing else. Plugin:
# gmail.
#
# On the Google side, once:
#
# 1. Google Cloud console: create (or pick) a project and enable the Gmail
#    API (APIs & Services > Library > Gmail API > Enable).
# 2. IAM & Admin > Service accounts > Create service account. Keys tab:
#    Add key > Create new key > JSON. Copy it to the appliance:
#
#      install -m 0600 -o tocsin key.json /etc/tocsin/gmail-sa.json
#
# 3. Google Admin console > Security > Access and data control > API
#    controls > Manage domain-wide delegation > Add new: the service
#    account's Unique ID as client ID, scope
#    https://www.googleapis.com/auth/gmail.send . Missing, the token
#    request fails with unauthorized_client (allow up to 24 hours after a
#    change).
# 4. subject is the user to send as. Without it Gmail answers
#    failedPrecondition: a service account has no mailbox of its own.
#
# A personal Gmail account uses an OAuth client ("Desktop app") JSON as
# client_file instead, and tocsin oauth login -transport gmail once.
#
#   tocsin test-send -config examples/gmail-api.hcl -transport gmail -to you@example.com

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "gmail" {
  plugin = "gmail"
  from   = "Appliance A <alerts@example.com>"
  config {
    service_account_file = "/etc/tocsin/gmail-sa.json"
    subject              = "alerts@example.com"
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.gmail]
}
