# The configuration the package's test files test.
agent {
  node = "appliance-b"
}

# Rules test never starts a plugin: any plugin name will do.
transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test]
}

peer "partner" {
  url = "http://192.0.2.1:9870"
}

check "sync" {
  file = "/var/lib/product/last-sync"
}

check "product" {
  command = ["/usr/bin/product", "--version"]
}

node {
  role    = "backup"
  version = trimspace(check.product.stdout)
}

rule "version_mismatch" {
  schedule = "*/5 * * * *"
  when     = peer.partner.ok && node.version != peer.partner.version
  for      = "10m"
  repeat   = "1d"
  notify   = [contact.ops]
  severity = "critical"
  subject  = "Version mismatch: ${node.version} here, ${peer.partner.version} on the partner"
}

rule "sync_stale" {
  when    = age(check.sync.mtime) > duration("24h")
  repeat  = "12h"
  notify  = [contact.ops]
  subject = "No sync since ${check.sync.mtime}"
  attach  = ["/var/log/product/sync.log"]
}

rule "goodbye" {
  when       = agent.stopping
  notify     = [contact.ops]
  subject    = "${node.role} stops"
  on_resolve = false
}
