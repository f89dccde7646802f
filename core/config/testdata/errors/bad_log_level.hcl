agent {
  log_level = "warning"
}
