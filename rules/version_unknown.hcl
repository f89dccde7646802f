# version_unknown: the backup cannot compare the versions of the pair,
# because its own version cannot be read (the checks its version setting
# reads fail) or the primary reports none. Said once, not repeated: it
# is a setup problem, not an outage. Evaluated on the backup, as
# version_mismatch is.
#
# needs: version
rule "version_unknown" {
  when     = node.role == "backup" && peer.partner.ok && (node.version == null || peer.partner.version == null)
  for      = "10m"
  severity = "warning"
  subject  = "${node.name}: the product version of ${node.version == null ? "this node" : "the primary"} is unknown"
  text = join("\n\n", [for part in [
    "The backup ${node.name} cannot compare the product versions of the HA pair,\nso it cannot tell you when they differ.",
    node.version != null ? "" : join("\n", concat(
      ["The version of this node cannot be read:"],
      [for name in library.version_checks : "  check ${name}: ${check[name].ok ? "ok" : check[name].error}"],
    ["Fix what the version setting of this node's library block reads."])),
    peer.partner.version != null ? "" : "The primary (${library.peer_url}) reports no version:\nset version in the library block of the primary.",
  ] : part if part != ""])
}
