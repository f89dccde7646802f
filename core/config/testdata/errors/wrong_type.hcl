agent {
  mute     = "perhaps"
  log_json = true
}

contact "ops" {
  email = "ops@example.com"
  via   = ["relay"]
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}
