# A plain SMTP relay inside the network: no login, STARTTLS with the
# relay's certificate from an internal CA.
#
#   tocsin validate -config examples/relay.hcl
#   tocsin test-send -config examples/relay.hcl -transport relay -to you@example.com

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Appliance A <appliance-a@example.com>"
  config {
    host     = "relay.example.com"
    port     = 25
    security = "starttls"
    auth     = "none"
    # ca_file = "/etc/tocsin/internal-ca.pem"
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
