# delivery_failing: the alerting channel itself is broken: a transport has
# failed every attempt for delivery_alert_after (15m unless set), so the
# other rules' notifications wait in the outbox. Tells
# delivery_alert_contact (not the library's notify contacts), whose via
# should start with another transport. Reads the outbox fact. Left out
# unless delivery_alert_contact is set.
#
# needs: delivery_alert_contact
# notify: delivery_alert_contact
rule "delivery_failing" {
  when     = outbox.failing_for >= duration(library.delivery_alert_after)
  repeat   = "1h"
  severity = "critical"
  subject = (rule.state == "resolved" ? "${node.name}: notifications go through again" :
  "${node.name}: notifications through ${join(", ", keys(outbox.failing))} have failed for ${outbox.failing_for >= 3600 ? "${floor(outbox.failing_for / 3600)}h" : ""}${floor(outbox.failing_for % 3600 / 60)}m: ${try([for name, s in outbox.failing : s.last_error if s.failing_for == outbox.failing_for][0], "")}")
  text = <<-EOT
    Tocsin on ${node.name} %{if rule.state == "resolved"}sends notifications again: the
    transports that failed have each sent one since.%{else}cannot send notifications through these
    transports; every attempt since the first failure failed:

    ${join("\n", [for name, s in outbox.failing : "  ${name}: failing for ${s.failing_for >= 3600 ? "${floor(s.failing_for / 3600)}h" : ""}${floor(s.failing_for % 3600 / 60)}m (${s.failures} failed ${s.failures == 1 ? "attempt" : "attempts"}); last error: ${s.last_error}"])}

    Notifications whose contacts have another transport in their via list
    move on to it; the others wait. Fix the transport (its credentials,
    the mail server, the network): `tocsin outbox list` and
    `tocsin outbox show ID` on ${node.name} give each error and its remedy.%{endif}

    Pending notifications: ${outbox.pending}%{if outbox.pending > 0} (the oldest waiting for ${outbox.oldest_age >= 3600 ? "${floor(outbox.oldest_age / 3600)}h" : ""}${floor(outbox.oldest_age % 3600 / 60)}m)%{endif}.%{if outbox.dead > 0}
    Dead letters: ${outbox.dead}: notifications that failed on every
    transport of their contact. `tocsin outbox list` shows them;
    `tocsin outbox retry ID` sends one again once its transport works.%{endif}
  EOT
}
