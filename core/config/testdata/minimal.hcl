transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
