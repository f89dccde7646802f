agent {
  log_level = "warn"
  node      = "appliance-b"
}

transport "relay" {
  plugin = "smtp-oauth-ms"
  from   = "alerts@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = ["relay"]
}
