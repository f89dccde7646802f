agent {
  node       = "test"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "/tmp/tocsin-test"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Tocsin <tocsin@example.com>"
  config {
    host     = "mail.example.com"
    port     = 587
    security = "starttls"
    username = "tocsin"
    password = env("TOCSIN_TEST_PASSWORD")
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}

