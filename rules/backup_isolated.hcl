# backup_isolated: the backup reaches neither the primary nor any of the
# test IPs: it is cut off, and will not take over. Reads peer.partner and
# the checks test_ip_0, test_ip_1, ...
#
# needs: test_ips
rule "backup_isolated" {
  when     = node.role == "backup" && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)
  for      = "1m"
  repeat   = "4h"
  severity = "critical"
  subject  = "${node.name}: the backup is isolated: it reaches neither the primary nor a test IP"
  text     = <<-EOT
    The backup ${node.name} reaches neither the primary nor any test IP
    address, so it is cut off from the network. It cannot tell whether the
    primary is down, and will not take over.

      primary (${library.peer_url}): ${peer.partner.error}
    ${join("\n", [for name in library.test_ip_checks : "  test IP ${check[name].address}: ${check[name].error}"])}

    Check the backup's network connection, cabling and routes.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
