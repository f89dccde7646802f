transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

transport "relay" {
  plugin = "smtp-oauth-ms"
  from   = "alerts@example.com"
}
