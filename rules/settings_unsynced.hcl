# settings_unsynced: the backup takes its transports and contacts from the
# primary (take_settings_from_primary) and could not sync them for longer
# than settings_unsynced_after (24h unless set), counted from the agent's
# start when it never synced. It still sends with the last good copy,
# which may be stale. Reads peer.partner.settings_synced_at and
# settings_error (which also names a synced transport whose plugin this
# node lacks).
#
# needs: take_settings_from_primary
rule "settings_unsynced" {
  when     = peer.partner.settings_from && age(coalesce(peer.partner.settings_synced_at, agent.started)) > duration(library.settings_unsynced_after)
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: transports and contacts not synced from the primary for more than ${library.settings_unsynced_after}"
  text     = <<-EOT
    ${node.name} takes its transports and contacts from the primary, and
    could not sync them for more than ${library.settings_unsynced_after}.

      last sync: ${coalesce(peer.partner.settings_synced_at, "never")}
      error:     ${coalesce(peer.partner.settings_error, "none")}

    It sends with the last good copy it has; what was changed on the
    primary since has not reached it. The backup reads the primary's
    /v1/peer/settings with its pinned identity: check that the primary
    answers and pins this node (peer_fingerprint), and that this node
    has the plugins the primary's transports name.
  EOT
}
