# credential_expiring: a transport's credential (its client certificate,
# its client secret, or what its plugin reports) expires within 30 days,
# and on that day every notification through the transport stops. Warns
# when 30 days are left, again at 7 days and at 1 day, and once more when
# it has expired; resolves, with a mail, once the credential is renewed
# (the new certificate, or the new client_secret_expires, is loaded).
# Tells delivery_alert_contact when it is set (a contact whose via starts
# with another transport), else the library's notify contacts. Reads the
# credential fact; a stored login, whose expiry no provider tells, never
# fires it.
#
# needs: none
# notify: delivery_alert_contact
rule "credential_expiring" {
  # Each threshold (7 days, 1 day, the expiry) is preceded by an hour in
  # which the rule lets go without a mail, so that it fires again when the
  # threshold is reached: evaluate_every must not exceed an hour.
  when = (length([for name, c in credential : name if try(-age(c.expires), duration("366d")) <= duration("30d")]) > 0 &&
  length([for name, c in credential : name if length([for t in [duration("7d"), duration("1d"), 0] : t if try(-age(c.expires), -1) > t && try(-age(c.expires), -1) <= t + duration("1h")]) > 0]) == 0)
  # Letting go before a threshold is silent; a renewed credential is not.
  on_resolve = length([for name, c in credential : name if try(-age(c.expires), duration("366d")) <= duration("30d")]) == 0
  severity   = "warning"
  subject = (rule.state == "resolved" ? "${node.name}: the expiring credentials were renewed" :
  "${node.name}: ${join("; ", [for name, c in credential : "the ${coalesce(c.what, "credential")} of transport ${name} ${age(c.expires) >= 0 ? "expired on ${substr(c.expires, 0, 10)}" : "expires on ${substr(c.expires, 0, 10)} (${c.days_left == 0 ? "in less than a day" : c.days_left == 1 ? "in 1 day" : "in ${c.days_left} days"})"}" if try(-age(c.expires), duration("366d")) <= duration("30d")])}")
  text = <<-EOT
    %{if rule.state == "resolved"}The credentials that were about to expire on ${node.name} have been
    renewed: no transport's credential expires within 30 days now.%{else}Tocsin on ${node.name} sends its notifications with credentials that
    expire: on that day every notification through the transport fails.

    ${join("\n\n", [for name, c in credential : trimspace(<<-ITEM
      Transport ${name}: ${coalesce(c.what, "its credential")} ${age(c.expires) >= 0 ? "expired" : "expires"} on ${substr(c.expires, 0, 10)} at ${substr(c.expires, 11, 5)} UTC (${age(c.expires) >= 0 ? (floor(age(c.expires) / 86400) == 0 ? "today" : floor(age(c.expires) / 86400) == 1 ? "1 day ago" : "${floor(age(c.expires) / 86400)} days ago") : c.days_left == 0 ? "in less than a day" : c.days_left == 1 ? "in 1 day" : "in ${c.days_left} days"}).
        ${c.source == "certificate" ? "Create a new certificate, upload it to the app registration in the portal (Certificates & secrets), and point the transport's client_certificate (and client_key) at its files." : c.source == "client_secret_expires" ? "Create a new client secret in the portal (the app registration's Certificates & secrets), put its Value where the transport's client_secret reads it, and set client_secret_expires to the new secret's expiry date." : "Renew it as the documentation of the transport's plugin says."}
      ITEM
) if try(-age(c.expires), duration("366d")) <= duration("30d")])}

    Then run `tocsin validate` (it shows each transport's credential and
    when it expires) and reload the agent (systemctl reload tocsin). This
    warning comes 30 days ahead, again at 7 days and at 1 day, and when the
    credential has expired.%{endif}
  EOT
}
