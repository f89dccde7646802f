agent {
  node = "appliance-a"
}

trasnport "relay" {
  plugin = "smtp-basic"
}
