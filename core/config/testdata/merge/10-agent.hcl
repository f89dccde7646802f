agent {
  node     = "appliance-a"
  data_dir = "data"
}
