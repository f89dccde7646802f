# sync_stale: the primary has not synchronised with the backup for 24
# hours. Reads the check sync: the library's sync_file, whose modification
# time is the last sync. A missing file counts as no sync; a file whose
# time cannot be read (a permission error) is sync_unreadable's. When
# both nodes set sync_file, the pair mails once: the primary speaks, the
# backup only while it cannot check the primary, or when the primary
# reports no sync time (it has no sync_file, or cannot read it).
#
# needs: sync_file
rule "sync_stale" {
  when = ((node.role == "primary" || !peer.partner.ok || peer.partner.last_sync == null) &&
  (check.sync.exists == false || try(age(check.sync.mtime) > duration("24h"), false)))
  for      = "5m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: no data synchronisation for more than 24 hours"
  text     = <<-EOT
    The HA pair has not synchronised its data for more than 24 hours.

      last sync: ${coalesce(check.sync.mtime, "never")} (the modification time of ${library.sync_file})${check.sync.ok ? "" : "\n  ${check.sync.error}"}

    A failover now would lose the changes since then. Check the
    synchronisation between the nodes.
  EOT
}
