transport "relay" {
  plugin = "SMTP_Basic"
  from   = "alerts@example.com"
}
