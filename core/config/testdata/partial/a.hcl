transport "relay" {
  plugin = "smtp-basic"
  from   = 
}
