agent {
  node = node.name
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [contact.ops, transport.relay.host, upper("relay")]
}
