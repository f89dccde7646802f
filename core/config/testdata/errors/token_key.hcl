agent {
  token_key_file = "keys/token.key"
  token_key_env  = "TOCSIN TOKEN KEY"
}
