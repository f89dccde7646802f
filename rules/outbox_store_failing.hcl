# outbox_store_failing: notifications cannot be written to the outbox
# (data_dir is full, or its file system fails), so the other rules'
# notifications wait until they can (each rule tries again at its next
# evaluation; nothing is lost). Tells delivery_alert_contact (not the
# library's notify contacts). Reads the outbox fact. While the outbox
# cannot be written, the agent sends the notifications of the rules that
# read the outbox fact (this one, delivery_failing) without storing them,
# so this warning does not wait for the disk. Left out unless
# delivery_alert_contact is set.
#
# needs: delivery_alert_contact
# notify: delivery_alert_contact
rule "outbox_store_failing" {
  when     = outbox.store_failures > 0
  repeat   = "1h"
  severity = "critical"
  subject = (rule.state == "resolved" ? "${node.name}: notifications are stored again" :
  "${node.name}: notifications cannot be stored: ${outbox.store_error}")
  text = <<-EOT
    Tocsin on ${node.name} %{if rule.state == "resolved"}stores its notifications again: the
    notifications that waited are in the outbox and go out now.%{else}cannot write notifications to its
    outbox (data_dir): ${outbox.store_failures} ${outbox.store_failures == 1 ? "notification was" : "notifications were"} not stored
    in the last ${outbox.store_failing_for >= 3600 ? "${floor(outbox.store_failing_for / 3600)}h" : ""}${floor(outbox.store_failing_for % 3600 / 60)}m. The last error:

      ${outbox.store_error}

    Each rule tries again at its next evaluation, so nothing is lost, but
    no other alert goes out until the outbox can be written. Free space
    under data_dir on ${node.name} (`df` shows the file system; the
    outbox and state files are outbox.db and state.db), or fix its file
    system. /healthz says "degraded" until a write succeeds.

    This message was sent without being stored: if it could not be sent,
    nothing retries it but the rule's next evaluation.%{endif}
  EOT
}
