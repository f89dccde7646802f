agent {
  node     = env("TOCSIN_TEST_UNSET")
  data_dir = env("TOCSIN_TEST_UNSET", "/srv/tocsin")
}
