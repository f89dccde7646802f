# backup_self_check_failed: the backup could not check itself, which
# points at a defect of the node. Reads the check self: the agent's own
# /healthz, or the library's self_check command.
#
# needs: none
rule "backup_self_check_failed" {
  when     = node.role == "backup" && !check.self.ok
  for      = "2m"
  repeat   = "4h"
  severity = "critical"
  subject  = "${node.name}: the backup could not check itself"
  text     = <<-EOT
    The backup ${node.name} could not check itself. This points at a
    defect of the node, and the backup may not take over when needed.

      ${check.self.error}

    Look at the node's logs and restart the failing service.
  EOT
  # Down and up again and again: one "Flapping" mail, then quiet until
  # it has neither fired nor resolved for 30 minutes.
  flapping {
    changes = 4
    within  = "1h"
    settle  = "30m"
  }
}
