transport "relay" {
  plugin = "smtp-basic"
}

contact "ops" {
  via = [transport.relay]
}
