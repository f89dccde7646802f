# primary_unchecked_manual: the backup cannot check the primary, and
# nothing takes over if the primary is down: automatic failover is off, or
# backup operations are disabled. Not while the backup is isolated
# (backup_isolated explains that). When the primary announced its stop
# (peer.partner.stopping), the mail says that its operator stopped it,
# and when.
#
# needs: none
rule "primary_unchecked_manual" {
  when = (node.role == "backup" && !(node.auto_failover && try(library.backup_ops, true)) && !peer.partner.ok &&
  !(length(library.test_ip_checks) > 0 && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)))
  for      = "1m"
  repeat   = "4h"
  severity = "critical"
  # A Resolved mail only when the primary answers again: when automatic
  # failover is switched on, or the backup becomes isolated or the
  # primary, another alert carries on and this one ends quietly.
  on_resolve = peer.partner.ok
  subject    = "${node.name}: ${peer.partner.stopping == true ? "the primary was stopped by its operator at ${peer.partner.stopped_at}" : "the backup cannot check the primary"} (${try(library.backup_ops, true) ? "automatic failover is off" : "backup operations are disabled"})"
  text       = <<-EOT
    %{if peer.partner.stopping == true}The primary was stopped by its operator at ${peer.partner.stopped_at} (${coalesce(peer.partner.stop_reason, "no reason given")}):
    it told the backup ${node.name} so before it went. Since then the
    backup cannot check it at ${library.peer_url}:%{else}The backup ${node.name} cannot check the primary at ${library.peer_url}:%{endif}

      ${peer.partner.error}

    ${try(library.backup_ops, true) ? "Automatic failover is off" : "Backup operations are disabled"}: if the primary is down, nothing takes over
    until you fail over by hand.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
