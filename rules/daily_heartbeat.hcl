# daily_heartbeat: at every tick of the library's heartbeat schedule (every
# day by default), a notice
# that proves that mail still flows, with a summary of the node's status.
# It fires at the first tick and repeats at every later one. It does not
# hold in the agent's last evaluation when it stops, so that it resolves
# (without a mail) and fires anew after the next start: a restart neither
# sends an extra heartbeat nor skips one. It lists the silences in force
# (tocsin silence); only a silence that names it keeps it back.
#
# needs: none
rule "daily_heartbeat" {
  schedule   = library.heartbeat
  when       = !agent.stopping
  repeat     = "1m"
  severity   = "info"
  on_resolve = false
  subject    = "${node.name}: daily notice: Tocsin is running"
  text       = <<-EOT
    Tocsin ${agent.version} is running on ${node.name} and can send mail.
    This notice comes ${library.heartbeat_every}; if it stops coming, mail from this node
    does not get through.

      node:     ${node.name}, ${coalesce(node.role, "no role")}, version ${coalesce(node.version, "unknown")}
      partner:  ${library.peer_url}: ${try(peer.partner.ok, false) ? "${coalesce(peer.partner.role, "?")}, version ${coalesce(peer.partner.version, "unknown")}" : "NOT REACHABLE: ${try(peer.partner.error, "not observed yet")}"}
      last sync: ${coalesce(node.last_sync, "unknown")}
      running since: ${agent.started}
      silences: ${length(agent.silences) == 0 ? "none" : join("; ", [for s in agent.silences : "${s.target} until ${s.until} (${s.by}: ${s.comment})"])}

    Checks:
    ${join("\n", [for name, c in check : "  ${name}: ${c.ok ? "ok" : "FAILED: ${c.error}"}"])}
  EOT
}
