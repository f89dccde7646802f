# backup_no_test_ips: the backup reaches none of its test IPs (while it
# still reaches the primary; when it reaches neither, backup_isolated
# fires instead). Without a test IP the backup cannot tell its own
# isolation from a failed primary. Reads the checks test_ip_0, ...
#
# needs: test_ips
rule "backup_no_test_ips" {
  when     = node.role == "backup" && peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)
  for      = "5m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: the backup reaches none of its test IPs"
  text     = <<-EOT
    The backup ${node.name} reaches none of its test IP addresses:

    ${join("\n", [for name in library.test_ip_checks : "  ${check[name].address}: ${check[name].error}"])}

    While no test IP answers, the backup cannot tell its own isolation
    from a failure of the primary. Check the routes to the test IPs, or
    choose test IPs that answer ping (test_ips in the library block).
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
