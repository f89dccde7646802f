agent {
  node     = "appliance-a"
  log_levl = "debug"
  colour   = "blue"
}
