# The primary of an HA pair, for the library's tests.
agent {
  node = "appliance-a"
}

transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test]
}

library "failover" {
  role                = "primary"
  version             = "7.1"
  peer_url            = "http://192.0.2.2:9870"
  shared_ips          = ["192.0.2.10", "192.0.2.11"]
  shared_ip_interface = "eth1"
  sync_file           = "/var/lib/product/last-sync"
  notify              = [contact.ops]
}
