# backup_lost: the primary cannot check its backup for backup_lost_after:
# if the primary fails now, nothing takes over. The backup's own rules
# cannot say so, since the backup is what is gone. When the backup
# announced its stop (peer.partner.stopping), the mail says that its
# operator stopped it, and when.
#
# needs: none
rule "backup_lost" {
  when     = node.role == "primary" && !peer.partner.ok
  for      = library.backup_lost_after
  repeat   = "4h"
  severity = "critical"
  subject  = "${node.name}: the backup has been ${peer.partner.stopping == true ? "stopped by its operator at ${peer.partner.stopped_at} and down" : "unreachable"} for ${library.backup_lost_after}: the pair has no redundancy"
  text     = <<-EOT
    %{if peer.partner.stopping == true}The backup was stopped by its operator at ${peer.partner.stopped_at} (${coalesce(peer.partner.stop_reason, "no reason given")}),
    and the primary ${node.name} has not reached it at
    ${library.peer_url} since ${rule.since}:%{else}The primary ${node.name} has not reached its backup at
    ${library.peer_url} since ${rule.since}:%{endif}

      ${peer.partner.error}

    While the backup is gone, nothing takes over if the primary fails.
    Bring the backup (or its agent, or the network between the nodes)
    back.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
