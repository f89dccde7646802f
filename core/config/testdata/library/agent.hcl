# The failover library with every setting: a seed for FuzzLoad.
agent {
  node = "appliance-b"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
check "product" {
  file = "/etc/product/state.json"
  json = true
}
library "failover" {
  role                = "backup"
  version             = check.product.json.version
  peer_url            = "https://192.0.2.1:9870"
  primary_hostname    = "appliance-a.example.com"
  shared_ips          = ["192.0.2.10"]
  shared_ip_interface = "eth1"
  test_ips            = ["192.0.2.254"]
  sync_file           = "/var/lib/product/last-sync"
  auto_failover       = false
  backup_ops          = check.product.json.backup_ops
  takeover_after      = "5m"
  log_file            = "/var/log/tocsin/agent.log"
  heartbeat           = "0 8 * * *"
  self_check          = ["/usr/bin/product", "selftest"]
  disable             = ["version_mismatch"]
  notify              = [contact.ops]
}
