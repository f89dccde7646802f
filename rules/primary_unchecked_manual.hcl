# primary_unchecked_manual: automatic failover is off and the backup
# cannot check the primary. Not while the backup is isolated
# (backup_isolated explains that).
rule "primary_unchecked_manual" {
  when = (node.role == "backup" && !node.auto_failover && !peer.partner.ok &&
    !(length(library.test_ip_checks) > 0 && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)))
  for      = "1m"
  repeat   = "4h"
  severity = "critical"
  subject  = "${node.name}: the backup cannot check the primary (automatic failover is off)"
  text     = <<-EOT
    The backup ${node.name} cannot check the primary at ${library.peer_url}:

      ${peer.partner.error}

    Automatic failover is off: if the primary is down, nothing takes over
    until you fail over by hand.
  EOT
}
