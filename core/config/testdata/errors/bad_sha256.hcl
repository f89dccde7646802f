transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
  sha256 = "deadbeef"
}
