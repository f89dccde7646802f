# Tocsin agent configuration, as the Debian package installs it.
#
# As shipped it is valid and sends nothing: no transport, no contact, no
# rule. Fill in the commented blocks below (uncomment, then edit), or put
# more *.hcl files beside this one: `tocsin` reads every *.hcl file of
# /etc/tocsin, in name order. Then:
#
#   tocsin validate -config /etc/tocsin
#   tocsin test-send -config /etc/tocsin -transport relay -to you@example.com
#   systemctl start tocsin
#
# Every setting is explained in /usr/share/doc/tocsin/agent.hcl.example;
# complete configurations are in /usr/share/doc/tocsin/examples/, the
# failover rule library in /usr/share/doc/tocsin/rules/README.md.
#
# This file is readable by the tocsin group only (mode 0640, root:tocsin).
# Keep passwords out of it anyway: env("NAME") reads an environment
# variable, file("/etc/tocsin/relay.password") a file (mode 0640,
# root:tocsin).

agent {
  # The name of this node in subjects and Message-IDs. Default: the host name.
  # node = "appliance-b"

  # State: rule state, outbox, tokens, the API identity. The package
  # creates it (mode 0700, owned by tocsin).
  data_dir = "/var/lib/tocsin"

  # The plugins the package installs.
  plugin_dir = "/usr/lib/tocsin/plugins"

  # Your own plugins, which upgrades never touch. Searched first: a
  # plugin here wins over a bundled one of the same name, and tocsin
  # plugins, tocsin validate and the agent's log say so.
  local_plugin_dir = "/usr/local/lib/tocsin/plugins"

  # The API (/healthz, /v1/status, /metrics, the outbox). Loopback only;
  # a partner that must read this node's status needs a reachable
  # address, served over TLS (see agent.hcl.example).
  listen = "127.0.0.1:9870"

  log_level = "info"
}

# How mail leaves this node: an SMTP relay with a login. Other plugins:
# smtp-oauth-ms, smtp-oauth-google, graph, gmail, webhook for chat
# (Teams, Slack, Mattermost), and alertmanager for a fleet's Alertmanager
# cluster (`tocsin plugins` lists them; the examples show each).
#
# transport "relay" {
#   plugin = "smtp-basic"
#   from   = "Appliance B <alerts@example.com>"
#   config {
#     host     = "mail.example.com"
#     port     = 587
#     security = "starttls"
#     username = "alerts@example.com"
#     password = file("/etc/tocsin/relay.password")
#   }
# }

# Who is told, through which transports in fallback order.
#
# contact "ops" {
#   email = ["ops@example.com"]
#   via   = [transport.relay]
# }

# The failover rule library for an HA pair: one ready rule for every
# event of the catalogue, a daily heartbeat, startup and shutdown mails.
#
# library "failover" {
#   role          = "backup"
#   peer_url      = "https://192.0.2.1:9870"
#   test_ips      = ["192.0.2.254"]
#   shared_ips    = ["192.0.2.10"]
#   auto_failover = true
#   notify        = [contact.ops]
# }
