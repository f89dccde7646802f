transport "backup" {
  plugin = "smtp-basic"
  from   = "backup@example.com"
}
