# outbox_store_failing: notifications cannot be written to the outbox
# (a full data_dir): ops_fallback is told at once, hourly while it lasts,
# and when they are stored again.
config = ["testdata/backup.hcl"]
rules  = ["outbox_store_failing"]

test "fires at the first failure, repeats hourly, resolves when a write succeeds" {
  facts "0m" {
    outbox = {
      store_error    = "enqueue 2 notification(s): write /var/lib/tocsin/outbox.db: no space left on device"
      store_failures = 2
    }
  }
  facts "2h30m" {
    outbox = {}
  }
  expect "1m" {
    fire    = ["outbox_store_failing"]
    subject = { outbox_store_failing = "appliance-b: notifications cannot be stored: enqueue 2 notification(s): write /var/lib/tocsin/outbox.db: no space left on device" }
    text    = { outbox_store_failing = "outbox (data_dir): 2 notifications were not stored\nin the last 1m." }
  }
  expect "1h" {}
  expect "1h1m" {
    repeat = ["outbox_store_failing"]
    text   = { outbox_store_failing = "in the last 1h1m." }
  }
  expect "2h" {}
  expect "2h1m" {
    repeat = ["outbox_store_failing"]
  }
  expect "2h30m" {
    resolve = ["outbox_store_failing"]
    subject = { outbox_store_failing = "Resolved: appliance-b: notifications are stored again" }
    text    = { outbox_store_failing = "stores its notifications again" }
  }
  expect "5h" {}
}

test "storing works: silent" {
  facts "0m" {
    outbox = {
      pending = 3
      failing = { test = { last_error = "temporary error 421" } }
    }
  }
  expect "3h" {}
}

test "one notification not stored" {
  facts "0m" {
    outbox = {
      store_error       = "write outbox.db: input/output error"
      store_failing_for = "2h"
    }
  }
  expect "1m" {
    fire    = ["outbox_store_failing"]
    subject = { outbox_store_failing = "notifications cannot be stored: write outbox.db: input/output error" }
    text    = { outbox_store_failing = "1 notification was not stored\nin the last 2h1m." }
  }
}
