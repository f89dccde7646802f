# The backup of an HA appliance pair, watched with the built-in failover
# rule library (rules/README.md). Its partner runs ha-primary.hcl.
#
#   tocsin validate -config examples/ha-backup.hcl
#   tocsin test-send -config examples/ha-backup.hcl -transport relay -to you@example.com
#
# The library block below declares the peer "partner" (the primary's
# agent), the checks self, primary_hostname, test_ip_0 and test_ip_1, the
# node facts, and the rules of the catalogue, each notifying contact.ops,
# and delivery_failing, which tells contact.ops_fallback through a second
# relay when the first one keeps failing.

agent {
  node     = "appliance-b"
  data_dir = "/var/lib/tocsin"
  # The primary reads this node's /v1/status: listen where it can reach.
  # On an address other than loopback the agent serves TLS with its own
  # identity (generated in data_dir/tls on first start; `tocsin identity`
  # prints its fingerprint, which the primary pins), and answers only
  # callers with a credential: the primary by that identity, this host's
  # tocsin command by data_dir/admin.token.
  listen = "0.0.0.0:9870"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Appliance B <appliance-b@example.com>"
  config {
    host     = "relay.example.com"
    port     = 587
    security = "starttls"
    username = "appliance-b@example.com"
    password = env("TOCSIN_RELAY_PASSWORD")
  }
}

# A second way out, through another provider: notifications move to it
# when relay refuses them, and it carries the alert that relay keeps
# failing.
transport "second_relay" {
  plugin = "smtp-basic"
  from   = "Appliance B <appliance-b@example.net>"
  config {
    host     = "smtp.example.net"
    port     = 465
    security = "tls"
    username = "appliance-b@example.net"
    password = env("TOCSIN_SECOND_RELAY_PASSWORD")
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay, transport.second_relay]
}

# Told when a transport has failed every attempt for 15 minutes.
contact "ops_fallback" {
  email = ["ops-pager@example.net"]
  via   = [transport.second_relay]
}

# What the product says about itself: its version, and its failover
# settings as JSON (the library reads both below).
check "product_version" {
  command = ["/usr/bin/product", "--version"]
  every   = "5m"
}

check "failover_settings" {
  file  = "/etc/product/failover.json"
  json  = true
  every = "1m"
}

library "failover" {
  # This node's role in the pair.
  role = "backup"

  # This node's product version, compared with the primary's.
  version = trimspace(check.product_version.stdout)

  # The primary's agent, by address, and the primary's host name, which
  # the backup must be able to reach too.
  peer_url = "https://192.0.2.1:9870"
  # What `tocsin identity` prints on the primary: only the agent with that
  # identity is believed, and only it may read this node's status.
  peer_fingerprint = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  primary_hostname = "appliance-a.example.com"

  # Take the transports and contacts (secrets and stored logins included)
  # from the primary over this link, instead of configuring them twice;
  # settings_unsynced mails when no sync succeeded for 24h. The plugins
  # they name must be installed here too.
  # take_settings_from_primary = true

  # Addresses the backup pings to tell its own isolation from a failed
  # primary.
  test_ips = ["192.0.2.254", "198.51.100.1"]

  # The product takes over by itself after the primary is silent for
  # takeover_after; backup operations can be switched off for maintenance.
  auto_failover  = check.failover_settings.json.auto_failover
  backup_ops     = check.failover_settings.json.backup_operations
  takeover_after = "5m"

  # Attached (its last 256 KiB) to the startup and shutdown mails.
  log_file = "/var/log/tocsin/agent.log"

  # The daily notice that proves mail still flows.
  heartbeat = "CRON_TZ=Europe/Berlin 0 8 * * *"

  notify = [contact.ops]

  # delivery_failing: who hears that the alerting channel itself fails.
  delivery_alert_contact = contact.ops_fallback
  delivery_alert_after   = "15m"
}
