agent {
  node       = "test"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "/tmp/tocsin-test"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host = "mail.example.com"
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay, transport.o365]
}
