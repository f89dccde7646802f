# primary_unchecked_auto: automatic failover and backup operations are on
# and the backup cannot check the primary; it will take over if this
# lasts. Not while the backup is isolated. Said once, not repeated: the
# takeover is reported by takeover (predicted, with a fixed role) or
# role_became_primary (seen, with a role read from the product), its
# absence by takeover_overdue (with a role read from the product), and
# "will take over" repeated after it would be false.
#
# needs: none
rule "primary_unchecked_auto" {
  when = (node.role == "backup" && node.auto_failover && try(library.backup_ops, true) && !peer.partner.ok &&
  !(length(library.test_ip_checks) > 0 && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)))
  for      = "1m"
  severity = "critical"
  # A Resolved mail only when the primary answers again, never while the
  # old primary is still down (after a takeover, say).
  on_resolve = peer.partner.ok
  subject    = "${node.name}: the backup cannot check the primary and will take over if this lasts"
  text       = <<-EOT
    The backup ${node.name} cannot check the primary at ${library.peer_url}:

      ${peer.partner.error}

    Automatic failover is on: if the primary stays silent for
    ${library.takeover_after} in all, the backup becomes the primary.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
