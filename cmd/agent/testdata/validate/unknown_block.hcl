agent {
  node       = "test"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "/tmp/tocsin-test"
}

transprot "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
}
