# role_became_primary: this node's role, read from the facts (role reads
# a check), turned from backup to primary: the takeover that happened,
# with what the old primary said then. A role counts as changed once it
# has been read for 2 minutes, so a role check that misreads once mails
# nothing. Fires once; ends without a mail when the role changes again
# (role_became_backup says so). Only when role reads the facts; with a
# fixed role the library predicts the takeover instead (takeover).
#
# needs: observed role
rule "role_became_primary" {
  when       = agent.role == "primary" && agent.previous_role == "backup"
  severity   = "critical"
  on_resolve = false
  subject    = "${node.name}: ${peer.partner.ok ? "switched from backup to primary" : "the backup took over and is the primary now"}"
  text       = <<-EOT
    ${node.name} has been the primary since ${agent.role_since}; it was the backup.

    ${peer.partner.ok ? "The old primary at ${library.peer_url} answers, as ${try(peer.partner.role, "(no role)")}: a switchover by hand? If it says primary too, two primaries run at once: stop one now." : "The old primary at ${library.peer_url} does not answer:\n\n  ${try(peer.partner.error, "no answer")}\n\nFind out why it failed before you bring it back: two primaries must never run at once."}
  EOT
}
