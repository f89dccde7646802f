# shutdown: the agent stops. The agent evaluates every rule once more when
# it stops, with agent.stopping true: this rule fires then, with the tail
# of the agent's log attached when the library's log_file is set, and
# resolves without a mail at its first evaluation after the next start.
#
# needs: none
rule "shutdown" {
  when       = agent.stopping
  severity   = "info"
  on_resolve = false
  subject    = "${node.name}: Tocsin ${agent.version} stops"
  text       = <<-EOT
    Tocsin ${agent.version} on ${node.name} (${coalesce(node.role, "no role")}) is stopping; it
    has been running since ${agent.started}. Until it runs again, this node
    sends no alerts.
    ${library.log_file == null ? "" : "\nThe end of its log (${library.log_file}) is attached."}
  EOT
  attach     = [library.log_file]
}
