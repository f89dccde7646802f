# Gmail or Google Workspace through smtp-basic with an app password.
#
# Google refuses the account password for SMTP (534-5.7.9 "Application-
# specific password required"). With 2-step verification on, create an app
# password (Google account > Security > App passwords) and give it to
# Tocsin through the environment:
#
#   export TOCSIN_GMAIL_APP_PASSWORD='abcd efgh ijkl mnop'
#   tocsin test-send -config examples/gmail-app-password.hcl -transport gmail -to you@example.com
#
# Where app passwords are off (many Workspace domains), use the OAuth2
# transports smtp-oauth-google or gmail instead.

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "gmail" {
  plugin = "smtp-basic"
  from   = "Appliance A <alerts.example@gmail.com>"
  config {
    host     = "smtp.gmail.com"
    port     = 587
    security = "starttls"
    username = "alerts.example@gmail.com"
    password = env("TOCSIN_GMAIL_APP_PASSWORD")
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.gmail]
}
