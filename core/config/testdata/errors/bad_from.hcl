transport "relay" {
  plugin = "smtp-basic"
  from   = "Alerts alerts.example.com"
}
