transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

transport "o365" {
  plugin = "smtp-oauth-ms"
  from   = "alerts@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.o365, transport.relya, "graph"]
}
