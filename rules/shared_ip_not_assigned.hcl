# shared_ip_not_assigned: this node is the primary and a shared IP is
# configured, but the address is not among this node's addresses. (On the
# backup a shared IP is not assigned, by design.) Reads the checks
# shared_ip_0, shared_ip_1, ...
#
# needs: shared_ips
rule "shared_ip_not_assigned" {
  when     = node.role == "primary" && contains([for name in library.shared_ip_checks : check[name].assigned == false], true)
  for      = "1m"
  repeat   = "4h"
  severity = "critical"
  # A primary that becomes the backup loses its shared IPs by design:
  # the alert ends then without a Resolved mail, since nothing was fixed.
  on_resolve = node.role == "primary"
  subject    = "${node.name}: a shared IP is not assigned to this primary"
  text       = <<-EOT
    ${node.name} is the primary, but a shared IP address is not among its
    addresses, so clients cannot reach the service at that address:

    ${join("\n", [for name in library.shared_ip_checks : "  ${check[name].address}: ${check[name].error}" if check[name].assigned == false])}

    Assign the address to the node's interface (the product's network
    settings), or correct shared_ips in the library block.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
