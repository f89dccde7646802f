# role_became_backup: this node's role, read from the facts, turned from
# primary to backup (a failover to the partner, or a switchover by
# hand). A role counts as changed once it has been read for 2 minutes,
# so a role check that misreads once mails nothing. Fires once; ends
# without a mail when the role changes again. Only when role reads the
# facts.
#
# needs: observed role
rule "role_became_backup" {
  when       = agent.role == "backup" && agent.previous_role == "primary"
  severity   = "warning"
  on_resolve = false
  subject    = "${node.name}: no longer the primary, the backup now"
  text       = <<-EOT
    ${node.name} has been the backup since ${agent.role_since}; it was the primary.

    ${peer.partner.ok ? "The partner at ${library.peer_url} answers, as ${try(peer.partner.role, "(no role)")}." : "The partner at ${library.peer_url} does not answer:\n\n  ${try(peer.partner.error, "no answer")}\n\nWith no primary, the service is down until one takes over."}
  EOT
}
