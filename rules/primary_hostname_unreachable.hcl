# primary_hostname_unreachable: the backup reaches the primary at
# peer_url but not by the primary's host name (a DNS or routing problem).
# Reads the check primary_hostname (a TCP connection to the host name at
# peer_url's port).
#
# needs: primary_hostname
rule "primary_hostname_unreachable" {
  when     = node.role == "backup" && peer.partner.reachable && !check.primary_hostname.ok
  for      = "5m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: the primary is unreachable by its host name ${library.primary_hostname}"
  text     = <<-EOT
    The backup ${node.name} reaches the primary at ${library.peer_url},
    but not by its host name ${library.primary_hostname}:

      ${check.primary_hostname.error}

    Check the DNS entry of ${library.primary_hostname} and the routes to it.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
