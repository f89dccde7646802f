# takeover: automatic failover and backup operations are on and the
# primary stayed silent for takeover_after: the backup becomes the
# primary. Not while the backup is isolated (it would not take over). Resolves when the old primary
# answers again. When the primary announced its stop
# (peer.partner.stopping), the mail says that its operator stopped it,
# and when: the takeover happens all the same.
#
# needs: static role
rule "takeover" {
  when = (node.role == "backup" && node.auto_failover && try(library.backup_ops, true) && !peer.partner.ok &&
  !(length(library.test_ip_checks) > 0 && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)))
  for      = library.takeover_after
  repeat   = "24h"
  severity = "critical"
  # A Resolved mail only when the old primary answers again: not when
  # this node's role turns to primary, which is the takeover itself.
  on_resolve = peer.partner.ok
  subject    = "${node.name}: the backup takes over: the primary has been ${peer.partner.stopping == true ? "stopped by its operator at ${peer.partner.stopped_at} and down" : "silent"} for ${library.takeover_after}"
  text       = <<-EOT
    %{if peer.partner.stopping == true}The primary was stopped by its operator at ${peer.partner.stopped_at} (${coalesce(peer.partner.stop_reason, "no reason given")}),
    and has not answered since ${rule.since}:%{else}The primary at ${library.peer_url} has not answered since ${rule.since}:%{endif}

      ${peer.partner.error}

    Automatic failover is on, so the backup ${node.name} becomes the
    %{if peer.partner.stopping == true}primary. A planned stop of the primary still needs a working
    backup. Before you start the old primary again, make sure it comes
    back as the backup: two primaries must never run at once.%{else}primary. Find out why the old primary failed before you bring it back:
    two primaries must never run at once.%{endif}
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
