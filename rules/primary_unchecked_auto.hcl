# primary_unchecked_auto: automatic failover and backup operations are on
# and the backup cannot check the primary; it will take over if this
# lasts. Not while the backup is isolated. Said once, not repeated: the
# takeover is reported by takeover (predicted, with a fixed role) or
# role_became_primary (seen, with a role read from the product), its
# absence by takeover_overdue (with a role read from the product), and
# "will take over" repeated after it would be false. When the primary
# announced its stop (peer.partner.stopping), the mail says that its
# operator stopped it, and when; the takeover goes ahead as configured.
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
  subject    = "${node.name}: ${peer.partner.stopping == true ? "the primary was stopped by its operator at ${peer.partner.stopped_at}; the backup will take over if it stays down" : "the backup cannot check the primary and will take over if this lasts"}"
  text       = <<-EOT
    %{if peer.partner.stopping == true}The primary was stopped by its operator at ${peer.partner.stopped_at} (${coalesce(peer.partner.stop_reason, "no reason given")}):
    it told the backup ${node.name} so before it went. A planned stop
    still needs a working backup, so the backup takes over as configured.
    Since then it cannot check the primary at ${library.peer_url}:%{else}The backup ${node.name} cannot check the primary at ${library.peer_url}:%{endif}

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
