# rules_failing: rules of this agent cannot be evaluated (a fact they read
# is missing or of the wrong type, a check fails in a way they do not
# guard against), so they cannot alert you: for 10 minutes, the log and
# /v1/status say so; then this rule mails it. Reads agent.failing_rules,
# the rules whose last evaluation failed, with their errors.
#
# needs: none
rule "rules_failing" {
  when     = length([for name, err in agent.failing_rules : name if name != "rules_failing"]) > 0
  for      = "10m"
  repeat   = "24h"
  severity = "warning"
  subject  = "${node.name}: ${length([for name, err in agent.failing_rules : name if name != "rules_failing"])} rule${length([for name, err in agent.failing_rules : name if name != "rules_failing"]) == 1 ? "" : "s"} cannot be evaluated"
  text     = <<-EOT
    These rules of the agent on ${node.name} cannot be evaluated, so they
    cannot alert you about what they watch:

    ${join("\n", [for name, err in agent.failing_rules : "  ${name}: ${err}" if name != "rules_failing"])}

    Fix what each error names (a check, a fact, the library block), then
    see /v1/status: a rule that evaluates again leaves this list.
  EOT
}
