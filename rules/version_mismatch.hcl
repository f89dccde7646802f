# version_mismatch: the primary and the backup run different product
# versions. Evaluated on the backup, which watches the primary, so that
# the pair sends one mail, not two. A version that cannot be read is no
# mismatch: version_unknown says so.
#
# needs: version
rule "version_mismatch" {
  when     = node.role == "backup" && peer.partner.ok && node.version != null && peer.partner.version != null && node.version != peer.partner.version
  for      = "10m"
  repeat   = "24h"
  severity = "warning"
  # A Resolved mail only when the versions are seen equal, not when the
  # primary stops answering.
  on_resolve = peer.partner.ok && node.role == "backup"
  subject    = "${node.name}: version mismatch: ${node.version} here, ${peer.partner.version} on the primary"
  text       = <<-EOT
    The nodes of the HA pair run different product versions:

      this node (${node.name}, backup):  ${node.version}
      the primary (${library.peer_url}): ${peer.partner.version}

    A failover between nodes of different versions may fail or lose data.
    Bring both nodes to the same version.
  EOT
}
