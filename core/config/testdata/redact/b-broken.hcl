agent {
  node = "appliance-a"
  token = "PLANTED-broken
}
