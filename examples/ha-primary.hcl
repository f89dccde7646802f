# The primary of an HA appliance pair, watched with the built-in failover
# rule library (rules/README.md). Its partner runs ha-backup.hcl.
#
#   tocsin validate -config examples/ha-primary.hcl
#   tocsin test-send -config examples/ha-primary.hcl -transport relay -to you@example.com
#
# The library block below declares the peer "partner" (the backup's
# agent), the checks self, shared_ip_0 and sync, the node facts, and the
# rules of the catalogue, each notifying contact.ops. On the primary the
# shared-IP and sync rules speak; the backup's rules stay quiet.

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
  # The backup reads this node's /v1/status: listen where it can reach.
  # On an address other than loopback the agent serves TLS with its own
  # identity (generated in data_dir/tls on first start; `tocsin identity`
  # prints its fingerprint, which the backup pins), and answers only
  # callers with a credential: the backup by that identity, this host's
  # tocsin command by data_dir/admin.token.
  listen = "0.0.0.0:9870"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Appliance A <appliance-a@example.com>"
  config {
    host     = "relay.example.com"
    port     = 587
    security = "starttls"
    username = "appliance-a@example.com"
    password = env("TOCSIN_RELAY_PASSWORD")
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}

check "product_version" {
  command = ["/usr/bin/product", "--version"]
  every   = "5m"
}

library "failover" {
  role     = "primary"
  version  = trimspace(check.product_version.stdout)
  peer_url = "https://192.0.2.2:9870"
  # What `tocsin identity` prints on the backup: only the agent with that
  # identity is believed, and only it may read this node's status.
  peer_fingerprint = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

  # The address clients use, which moves with the primary role, and the
  # interface that carries it.
  shared_ips          = ["192.0.2.10"]
  shared_ip_interface = "eth1"

  # The product touches this file at every successful sync with the
  # backup: its modification time is the last sync.
  sync_file = "/var/lib/product/sync/last-success"

  log_file  = "/var/log/tocsin/agent.log"
  heartbeat = "CRON_TZ=Europe/Berlin 0 8 * * *"
  notify    = [contact.ops]
}
