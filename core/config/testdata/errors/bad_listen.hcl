agent {
  listen = "localhost"
}
