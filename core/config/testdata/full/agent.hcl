# A configuration that sets every field.
agent {
  node       = upper("appliance-b")
  data_dir   = "state"                 # relative to this file
  plugin_dir = "/usr/lib/tocsin/plugins"
  local_plugin_dir = "local-plugins" # relative to this file
  listen     = "0.0.0.0:9870"
  log_level  = lower("DEBUG")
  log_json   = true
  mute       = true
  token_key_file = "keys/token.key" # relative to this file
}

transport "o365" {
  plugin = "smtp-oauth-ms"
  from   = format("Alerts <%s>", env("TOCSIN_TEST_FROM", "alerts@contoso.example"))
  path   = "bin/tocsin-plugin-smtp-oauth-ms"
  sha256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
  rate_limit = "30/m"
  config {
    host          = "smtp.office365.com"
    client_secret = env("TOCSIN_TEST_SECRET")
  }
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@contoso.example"
  config {
    host     = "relay.contoso.example"
    password = trimspace(file("secrets/relay-password.txt"))
  }
}

contact "ops" {
  email = concat(["ops@contoso.example"], split(",", "Oncall <oncall@contoso.example>"))
  via   = [transport.o365, "relay"]
}
