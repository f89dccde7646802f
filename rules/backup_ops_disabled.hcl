# backup_ops_disabled: backup operations are switched off on the backup
# (the library's backup_ops is false), so it will not take over.
#
# needs: none
rule "backup_ops_disabled" {
  when     = node.role == "backup" && !library.backup_ops
  for      = "5m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: backup operations are disabled"
  text     = <<-EOT
    Backup operations are switched off on the backup ${node.name}. It
    does not watch the primary for failover and will not take over if the
    primary fails.

    Switch backup operations on again when the maintenance is over.
  EOT
}
