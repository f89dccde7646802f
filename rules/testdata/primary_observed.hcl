# testdata/primary.hcl with the role read from the product, so the
# library has role_became_primary and role_became_backup.
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

check "product" {
  file = "/etc/product/state.json"
  json = true
}

library "failover" {
  role                = check.product.json.role
  version             = "7.1"
  peer_url            = "http://192.0.2.2:9870"
  shared_ips          = ["192.0.2.10", "192.0.2.11"]
  shared_ip_interface = "eth1"
  sync_file           = "/var/lib/product/last-sync"
  notify              = [contact.ops]
}
