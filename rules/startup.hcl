# startup: the agent started. Sent once per start, at the rule's first
# evaluation (within a minute of the start), with the tail of the agent's
# log attached when the library's log_file is set. The condition holds for
# the first five minutes of a run and then resolves without a mail, so
# the next start fires it again. (A restart within those five minutes
# after a crash, with no stop in between, sends no second startup mail.)
#
# needs: none
rule "startup" {
  when       = !agent.stopping && age(agent.started) < duration("5m")
  severity   = "info"
  on_resolve = false
  subject    = "${node.name}: Tocsin ${agent.version} started"
  text       = <<-EOT
    Tocsin ${agent.version} started on ${node.name} (${coalesce(node.role, "no role")}) at ${agent.started}.
    ${library.log_file == null ? "" : "\nThe end of its log (${library.log_file}) is attached."}
  EOT
  attach     = [library.log_file]
}
