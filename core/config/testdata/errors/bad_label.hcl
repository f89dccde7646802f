transport "9 lives" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

contact {
  email = ["ops@example.com"]
  via   = ["9 lives"]
}
