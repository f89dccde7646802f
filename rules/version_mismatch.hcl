# version_mismatch: the primary and the backup run different product
# versions. Evaluated on the backup, which watches the primary, so that
# the pair sends one mail, not two.
rule "version_mismatch" {
  when     = node.role == "backup" && peer.partner.ok && node.version != peer.partner.version
  for      = "10m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: version mismatch: ${coalesce(node.version, "unknown")} here, ${coalesce(peer.partner.version, "unknown")} on the primary"
  text     = <<-EOT
    The nodes of the HA pair run different product versions:

      this node (${node.name}, backup):  ${coalesce(node.version, "unknown")}
      the primary (${library.peer_url}): ${coalesce(peer.partner.version, "unknown")}

    A failover between nodes of different versions may fail or lose data.
    Bring both nodes to the same version.
  EOT
}
