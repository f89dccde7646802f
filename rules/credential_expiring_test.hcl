# credential_expiring: a credential that expires on 2026-02-01 at 00:00
# UTC is warned of 30 days ahead, again 7 days ahead and 1 day ahead, and
# when it has expired; in the hour before each of the last three the rule
# lets go without a mail. testdata/backup.hcl sets delivery_alert_contact, so
# ops_fallback is told, through the other transport.
config = ["testdata/backup.hcl"]
rules  = ["credential_expiring"]

test "a client certificate: warned 30 days ahead" {
  facts "0m" {
    credential = {
      test = { expires = "2026-02-01", source = "certificate", what = "client certificate /etc/tocsin/graph.pem (CN=tocsin)" }
    }
  }
  expect "23h59m" {}
  expect "1d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "appliance-b: the client certificate /etc/tocsin/graph.pem (CN=tocsin) of transport test expires on 2026-02-01 (in 30 days)" }
    text    = { credential_expiring = "Transport test: client certificate /etc/tocsin/graph.pem (CN=tocsin) expires on 2026-02-01 at 00:00 UTC (in 30 days).\n  Create a new certificate, upload it to the app registration in the portal (Certificates & secrets), and point the transport's client_certificate (and client_key) at its files." }
  }
  expect "1d12h" {}
}

# The three later thresholds, each from two hours before it: the rule
# fires (the warning before, which is already out), lets go without a
# mail in the hour before the threshold, and fires again at it.
test "again 7 days ahead" {
  start = "2026-01-24T22:00:00Z"
  facts "0m" {
    credential = {
      test = { expires = "2026-02-01", source = "certificate", what = "client certificate /etc/tocsin/graph.pem (CN=tocsin)" }
    }
  }
  expect "1m" {
    fire = ["credential_expiring"]
  }
  expect "59m" {}
  expect "1h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "1h59m" {}
  expect "2h" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "expires on 2026-02-01 (in 7 days)" }
  }
  expect "3h" {}
}

test "again 1 day ahead" {
  start = "2026-01-30T22:00:00Z"
  facts "0m" {
    credential = {
      test = { expires = "2026-02-01", source = "certificate", what = "client certificate /etc/tocsin/graph.pem (CN=tocsin)" }
    }
  }
  expect "1m" {
    fire = ["credential_expiring"]
  }
  expect "1h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "1h59m" {}
  expect "2h" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "expires on 2026-02-01 (in 1 day)" }
    text    = { credential_expiring = "(in 1 day)" }
  }
  expect "3h" {}
}

test "and when it has expired, once" {
  start = "2026-01-31T22:00:00Z"
  facts "0m" {
    credential = {
      test = { expires = "2026-02-01", source = "certificate", what = "client certificate /etc/tocsin/graph.pem (CN=tocsin)" }
    }
  }
  expect "1m" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "expires on 2026-02-01 (in less than a day)" }
  }
  expect "1h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "1h59m" {}
  expect "2h" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the client certificate /etc/tocsin/graph.pem (CN=tocsin) of transport test expired on 2026-02-01" }
    text    = { credential_expiring = "expired on 2026-02-01 at 00:00 UTC (today)." }
  }
  expect "1d" {}
}

test "a client secret renewed after the first warning: resolved with a mail" {
  facts "0m" {
    credential = {
      test = { expires = "2026-01-20T12:00:00Z", source = "client_secret_expires", what = "client secret" }
    }
  }
  facts "2d" {
    credential = {
      test = { expires = "2028-01-20", source = "client_secret_expires", what = "client secret" }
    }
  }
  expect "1m" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the client secret of transport test expires on 2026-01-20 (in 19 days)" }
    text    = { credential_expiring = "Create a new client secret in the portal (the app registration's Certificates & secrets), put its Value where the transport's client_secret reads it, and set client_secret_expires to the new secret's expiry date." }
  }
  expect "2d" {
    resolve = ["credential_expiring"]
    subject = { credential_expiring = "Resolved: appliance-b: the expiring credentials were renewed" }
  }
  expect "2d1h" {}
}

test "a stored login, a far expiry and an unknown one never fire" {
  facts "0m" {
    credential = {
      test     = { source = "login", obtained_at = "2025-12-01T08:00:00Z", refreshed_at = "2025-12-31T08:00:00Z" }
      fallback = { expires = "2026-03-01", source = "plugin", what = "API key" }
    }
  }
  expect "1d" {}
}

test "two credentials: the second reaching its threshold warns again, naming both" {
  start = "2026-01-06T22:00:00Z"
  facts "0m" {
    credential = {
      test     = { expires = "2026-01-21", source = "certificate", what = "client certificate" }
      fallback = { expires = "2026-01-08", source = "plugin", what = "API key" }
    }
  }
  expect "1m" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the API key of transport fallback expires on 2026-01-08 (in 1 day); the client certificate of transport test expires on 2026-01-21 (in 14 days)" }
    text    = { credential_expiring = "Renew it as the documentation of the transport's plugin says." }
  }
  expect "1h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "2h" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "fallback expires on 2026-01-08 (in 1 day); the client certificate of transport test expires on 2026-01-21 (in 14 days)" }
  }
  expect "3h" {}
}
