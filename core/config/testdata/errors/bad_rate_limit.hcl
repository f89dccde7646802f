transport "relay" {
  plugin     = "smtp-basic"
  from       = "alerts@example.com"
  rate_limit = "30 per minute"
}
