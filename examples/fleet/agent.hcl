# One node of a fleet: the backup of the pair at site A. It mails its own
# operators through the local relay, as every pair does, and posts the
# same alerts to the fleet's Alertmanager cluster (alertmanager.yml here),
# which routes, groups and pages for all pairs. The fleet's Prometheus
# (prometheus.yml here) scrapes this agent's /metrics with the
# "prometheus" credential below. See README.md in this directory.
#
#   tocsin validate -config examples/fleet/agent.hcl

agent {
  node     = "site-a-b"
  data_dir = "/var/lib/tocsin"
  # The primary reads this node's /v1/status, and Prometheus its /metrics:
  # off loopback the agent serves TLS with its own identity.
  listen = "0.0.0.0:9870"
}

# Local mail: the site's relay.
transport "relay" {
  plugin = "smtp-basic"
  from   = "Site A backup <site-a-b@example.com>"
  config {
    host     = "relay.site-a.example.com"
    port     = 587
    security = "starttls"
    username = "site-a-b@example.com"
    password = env("TOCSIN_RELAY_PASSWORD")
  }
}

# The fleet's Alertmanager cluster: every instance, posted to at once; a
# notification is delivered when one accepts it. Each post keeps the
# alert active for ends_after (3 × refresh_interval, 3m here), so the
# alerts of a node whose agent died resolve on their own 3 minutes after
# its last post; Prometheus' TocsinAgentDown (prometheus.yml) says why.
transport "fleet" {
  plugin = "alertmanager"
  from   = "site-a-b@example.com"
  config {
    urls = [
      "https://am1.fleet.example.com:9093",
      "https://am2.fleet.example.com:9093",
      "https://am3.fleet.example.com:9093",
    ]
    basic_auth_username = "tocsin"
    basic_auth_password = env("TOCSIN_FLEET_AM_PASSWORD")
    # ca_file = "/etc/tocsin/fleet-ca.crt"   # when the instances' CA is a private one
    refresh_interval = "1m"
  }
}

contact "ops" {
  email = ["ops@site-a.example.com"]
  via   = [transport.relay]
}

# The alertmanager transport sends no mail: Alertmanager's routes decide
# who hears what. A contact still names an address, which the alert does
# not use.
contact "fleet" {
  email = ["alertmanager@fleet.example.com"]
  via   = [transport.fleet]
}

# The fleet's Prometheus: /metrics and /v1/status without secrets.
credential "prometheus" {
  role         = "read"
  token_sha256 = "9b2a4b5f7f0c6d3e1a8e4c2b7d9f1e3a5c7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f"
}

check "product_version" {
  command = ["/usr/bin/product", "--version"]
  every   = "5m"
}

library "failover" {
  role    = "backup"
  version = trimspace(check.product_version.stdout)

  peer_url         = "https://192.0.2.1:9870"
  peer_fingerprint = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  primary_hostname = "site-a-a.example.com"
  test_ips         = ["192.0.2.254", "198.51.100.1"]
  takeover_after   = "5m"

  heartbeat = "CRON_TZ=Europe/Berlin 0 8 * * *"
  # Every rule of the library tells both: the site by mail, the fleet
  # through Alertmanager.
  notify = [contact.ops, contact.fleet]
}
