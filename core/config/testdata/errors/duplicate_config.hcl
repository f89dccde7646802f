transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
  config {
    host = "a"
  }
  config {
    host = "b"
  }
}
