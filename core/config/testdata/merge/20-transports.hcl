agent {
  listen = "127.0.0.1:9999"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

transport "o365" {
  plugin = "smtp-oauth-ms"
  from   = "alerts@example.com"
}
