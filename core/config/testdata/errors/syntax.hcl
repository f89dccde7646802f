agent {
  node = "appliance-a"
  listen = "127.0.0.1:9870
}
