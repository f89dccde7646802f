# takeover_overdue: with the role read from the product, automatic
# failover and backup operations on, the primary has been silent for
# takeover_after and a grace of 5 minutes more (library.takeover_overdue_after),
# yet this node is still the backup: the takeover that primary_unchecked_auto
# announced has not happened, and nothing serves in the primary's place.
# Not while the backup is isolated (it would not take over). Repeats every
# 4 hours. Ends without a mail when the role turns to primary
# (role_became_primary says so), and with a Resolved mail when the old
# primary answers again. Only when role reads the facts; with a fixed
# role the agent cannot see whether a takeover happened (takeover
# predicts it). When the primary announced its stop
# (peer.partner.stopping), the mail says that its operator stopped it.
#
# needs: observed role
rule "takeover_overdue" {
  when = (node.role == "backup" && node.auto_failover && try(library.backup_ops, true) && !peer.partner.ok &&
  !(length(library.test_ip_checks) > 0 && !peer.partner.reachable && !contains([for name in library.test_ip_checks : check[name].ok], true)))
  for      = library.takeover_overdue_after
  repeat   = "4h"
  severity = "critical"
  # A Resolved mail only when the old primary answers again: not when
  # this node's role turns to primary, which is the takeover at last.
  on_resolve = peer.partner.ok
  subject    = "${node.name}: no takeover: the primary has been ${peer.partner.stopping == true ? "stopped by its operator" : "silent"} for ${age(rule.since) < 7200 ? "${floor(age(rule.since) / 60)} minutes" : age(rule.since) < 172800 ? "${floor(age(rule.since) / 3600)} hours" : "${floor(age(rule.since) / 86400)} days"} and automatic failover is on, but this node is still the backup"
  text       = <<-EOT
    %{if peer.partner.stopping == true}The primary was stopped by its operator at ${peer.partner.stopped_at} (${coalesce(peer.partner.stop_reason, "no reason given")}),
    and has not answered since ${rule.since}:%{else}The primary at ${library.peer_url} has not answered since ${rule.since}:%{endif}

      ${peer.partner.error}

    Automatic failover is on, so the product should have made
    ${node.name} the primary after ${library.takeover_after}; its role
    still reads backup. Nothing has taken over: if the primary is down,
    nothing serves in its place. Check the product's failover (its
    settings and its log), or fail over by hand.

    This mail repeats every 4 hours until ${node.name} becomes the
    primary or the old primary answers again.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
