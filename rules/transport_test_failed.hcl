# transport_test_failed: a transport's test mail failed. A transport with
# test_to sends one whenever its effective settings change (and at its
# first start), through itself alone; when that mail is refused or cannot
# be sent, the new settings do not work, and the other rules'
# notifications through it will wait or fall back. Reads outbox.tests.
# Tells delivery_alert_contact (not the library's notify contacts), whose
# via should start with another transport. Left out unless
# delivery_alert_contact is set.
#
# needs: delivery_alert_contact
# notify: delivery_alert_contact
rule "transport_test_failed" {
  when     = length([for name, t in outbox.tests : name if t.state == "failed"]) > 0
  repeat   = "4h"
  severity = "critical"
  subject = (rule.state == "resolved" ? "${node.name}: test mails go through again" :
  "${node.name}: the test mail through ${join(", ", [for name, t in outbox.tests : name if t.state == "failed"])} failed: ${try([for name, t in outbox.tests : t.error if t.state == "failed"][0], "")}")
  text = <<-EOT
    Tocsin on ${node.name} %{if rule.state == "resolved"}has delivered the test mails of its transports: their
    settings work.%{else}sent a test mail through these transports, to the addresses of
    their test_to, and it failed:

    ${join("\n", [for name, t in outbox.tests : "  ${name} (${t.reason}): ${t.attempts} failed ${t.attempts == 1 ? "attempt" : "attempts"}${t.at != "" ? ", the last at ${t.at}" : ""}: ${t.error}" if t.state == "failed"])}

    The transport does not work with its current settings: the other
    notifications through it wait in the outbox, or move on to the next
    transport of their contact's via list. Fix its settings (credentials,
    server, sender); `tocsin test-send -transport NAME` on ${node.name}
    tries one alone. Then reload the agent (SIGHUP): it sends a new test
    mail, as it does at every start while the test has not passed. A
    temporary failure is retried meanwhile.%{endif}
  EOT
}
