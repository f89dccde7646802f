transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

contact "ops" {
  email = [
    "ops@example.com",
    "oncall at example.com",
  ]
  via = [transport.relay]
}

contact "nobody" {
  email = []
  via   = []
}
