# credential_expiring: a credential that expires on 2026-02-01 at 00:00
# UTC, 31 days after the test's start: warned of 30 days ahead (offset
# 1d), again 7 days ahead (24d) and 1 day ahead (30d), and when it has
# expired (31d); in the hour before each threshold the rule lets go
# without a mail. testdata/backup.hcl sets delivery_alert_contact, so
# ops_fallback is told, through the other transport.
config = ["testdata/backup.hcl"]
rules  = ["credential_expiring"]

test "a client certificate: warned at 30, 7 and 1 day and at expiry" {
  facts "0m" {
    credential = {
      test = { expires = "2026-02-01", source = "certificate", what = "client certificate /etc/tocsin/graph.pem (CN=tocsin)" }
    }
  }
  expect "23h50m" {}
  expect "1d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "appliance-b: the client certificate /etc/tocsin/graph.pem (CN=tocsin) of transport test expires on 2026-02-01 (in 30 days)" }
    text    = { credential_expiring = "Transport test: client certificate /etc/tocsin/graph.pem (CN=tocsin) expires on 2026-02-01 at 00:00 UTC (in 30 days).\n  Create a new certificate, upload it to the app registration in the portal (Certificates & secrets), and point the transport's client_certificate (and client_key) at its files." }
  }
  expect "23d22h50m" {}
  expect "23d23h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "23d23h50m" {}
  expect "24d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "expires on 2026-02-01 (in 7 days)" }
  }
  expect "29d22h50m" {}
  expect "29d23h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "30d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "expires on 2026-02-01 (in 1 day)" }
    text    = { credential_expiring = "(in 1 day)" }
  }
  expect "30d23h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "31d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the client certificate /etc/tocsin/graph.pem (CN=tocsin) of transport test expired on 2026-02-01" }
    text    = { credential_expiring = "expired on 2026-02-01 at 00:00 UTC (today)." }
  }
  expect "33d" {}
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
  expect "10m" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the client secret of transport test expires on 2026-01-20 (in 19 days)" }
    text    = { credential_expiring = "Create a new client secret in the portal (the app registration's Certificates & secrets), put its Value where the transport's client_secret reads it, and set client_secret_expires to the new secret's expiry date." }
  }
  expect "2d" {
    resolve = ["credential_expiring"]
    subject = { credential_expiring = "Resolved: appliance-b: the expiring credentials were renewed" }
  }
  expect "40d" {}
}

test "a stored login, a far expiry and an unknown one never fire" {
  facts "0m" {
    credential = {
      test     = { source = "login", obtained_at = "2025-12-01T08:00:00Z", refreshed_at = "2025-12-31T08:00:00Z" }
      fallback = { expires = "2026-03-01", source = "plugin", what = "API key" }
    }
  }
  expect "28d" {}
}

test "two credentials: the second reaching its threshold warns again, naming both" {
  facts "0m" {
    credential = {
      test     = { expires = "2026-01-21", source = "certificate", what = "client certificate" }
      fallback = { expires = "2026-01-08", source = "plugin", what = "API key" }
    }
  }
  expect "10m" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "the API key of transport fallback expires on 2026-01-08 (in 6 days); the client certificate of transport test expires on 2026-01-21 (in 19 days)" }
    text    = { credential_expiring = "Renew it as the documentation of the transport's plugin says." }
  }
  expect "5d23h" {
    resolve = ["credential_expiring"]
    silent  = ["credential_expiring"]
  }
  expect "6d" {
    fire    = ["credential_expiring"]
    subject = { credential_expiring = "fallback expires on 2026-01-08 (in 1 day); the client certificate of transport test expires on 2026-01-21 (in 14 days)" }
  }
}
