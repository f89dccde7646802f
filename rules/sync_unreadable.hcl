# sync_unreadable: the modification time of the library's sync_file, the
# time of the last sync, cannot be read (the file's directory cannot be
# searched, say), so sync_stale cannot tell whether the data is in sync.
# A file that does not exist is no sync, sync_stale's.
#
# needs: sync_file
rule "sync_unreadable" {
  when     = check.sync.exists != false && check.sync.mtime == null
  for      = "5m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: the time of the last data synchronisation cannot be read"
  text     = <<-EOT
    Tocsin cannot read the modification time of ${library.sync_file}, the
    time of the last data synchronisation of the HA pair:

      ${coalesce(check.sync.error, "no reading of the check sync yet")}

    So it cannot tell you when the synchronisation stops. Give the agent's
    user read access to the file and its directory, or correct sync_file
    in the library block.
  EOT
}
