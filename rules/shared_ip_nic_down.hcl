# shared_ip_nic_down: this node is the primary, a shared IP is configured,
# and the network interface that holds it is down. Reads the checks
# shared_ip_0, shared_ip_1, ... (one per shared IP; up is null when the
# address is on no interface, which shared_ip_not_assigned reports).
#
# needs: shared_ips
rule "shared_ip_nic_down" {
  when     = node.role == "primary" && contains([for name in library.shared_ip_checks : check[name].up == false], true)
  for      = "1m"
  repeat   = "4h"
  severity = "critical"
  # Ends without a Resolved mail when this node is no longer the primary.
  on_resolve = node.role == "primary"
  subject    = "${node.name}: the interface of a shared IP is down"
  text       = <<-EOT
    ${node.name} is the primary, but the network interface of a shared IP
    address is down, so clients cannot reach the service at that address:

    ${join("\n", [for name in library.shared_ip_checks : "  ${check[name].address} on ${coalesce(check[name].name, "?")}: ${check[name].error}" if check[name].up == false])}

    Bring the interface up (ip link set DEV up) and check its cable or
    virtual switch.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
