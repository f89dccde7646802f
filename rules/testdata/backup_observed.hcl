# testdata/backup.hcl with the role read from the product (so the
# library has role_became_primary and role_became_backup instead of the
# takeover prediction) and automatic failover on.
agent {
  node   = "appliance-b"
  listen = "127.0.0.1:9870"
}

# rules test starts no plugin: any plugin name will do.
transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}

transport "fallback" {
  plugin = "none"
  from   = "tocsin@example.net"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test, transport.fallback]
}

# Told when a transport keeps failing, through the other one first.
contact "ops_fallback" {
  email = ["ops@example.net"]
  via   = [transport.fallback]
}

# What the product says about itself, read by the library's settings.
check "product" {
  file = "/etc/product/state.json"
  json = true
}

library "failover" {
  role             = check.product.json.role
  version          = check.product.json.version
  peer_url         = "http://192.0.2.1:9870"
  primary_hostname = "appliance-a.example.com"
  shared_ips       = ["192.0.2.10"]
  test_ips         = ["192.0.2.254", "198.51.100.1"]
  sync_file        = "/var/lib/product/last-sync"
  auto_failover    = true
  backup_ops       = check.product.json.backup_ops
  takeover_after   = "5m"
  log_file         = "/var/log/tocsin/agent.log"
  heartbeat        = "0 8 * * *"
  notify           = [contact.ops]

  delivery_alert_contact = contact.ops_fallback
  delivery_alert_after   = "15m"
}
