# primary_unchecked_auto: automatic failover is on and the backup cannot
# check the primary; takeover follows if it lasts.
config = ["testdata/backup.hcl"]
rules  = ["primary_unchecked_auto"]

# Issue 13, finding 2: the prediction is said once. takeover_after later
# takeover reports the takeover, so a repeated "will take over if this
# lasts" would be false for days after it.
test "fires after a minute, once, resolves" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "GET http://192.0.2.1:9870/v1/status: status 500 Internal Server Error"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "8h10m" {
    peer "partner" {}
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "appliance-b: the backup cannot check the primary and will take over if this lasts" }
    text    = { primary_unchecked_auto = "silent for\n5m in all, the backup becomes the primary" }
  }
  expect "8h9m" {}
  expect "8h10m" {
    resolve = ["primary_unchecked_auto"]
  }
}

test "with automatic failover off primary_unchecked_manual speaks instead" {
  facts "0m" {
    peer "partner" {
      error = "timeout"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "1h" {}
}

# Issue 18, part 3: the primary announced its stop (SIGTERM) before it
# went. The mail says its operator stopped it, and when; it comes at the
# same time and is said once, as for a failure, since the backup takes
# over all the same. When the primary answers again as running, the
# agent clears stopping, and the Resolved mail is the usual one.
test "a primary stopped by its operator: the mail says so" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error       = "dial tcp 192.0.2.1:9870: connect: connection refused"
      reachable   = true
      stopping    = true
      stopped_at  = "2026-01-01T00:00:00Z"
      stop_reason = "signal SIGTERM"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "3h" {
    peer "partner" {}
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "appliance-b: the primary was stopped by its operator at 2026-01-01T00:00:00Z; the backup will take over if it stays down" }
    text    = { primary_unchecked_auto = "The primary was stopped by its operator at 2026-01-01T00:00:00Z (signal SIGTERM):\nit told the backup appliance-b so before it went. A planned stop\nstill needs a working backup, so the backup takes over as configured.\nSince then it cannot check the primary at http://192.0.2.1:9870:\n\n  dial tcp 192.0.2.1:9870: connect: connection refused\n" }
  }
  expect "3h" {
    resolve = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "Resolved: appliance-b: the backup cannot check the primary" }
  }
}

# Killed (SIGKILL) or powered off: no notice, stopping is false, and the
# mail is the one for a failure.
test "a primary gone without a notice: the usual mail" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error    = "connection refused"
      stopping = false
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "appliance-b: the backup cannot check the primary and will take over if this lasts" }
    text    = { primary_unchecked_auto = "The backup appliance-b cannot check the primary at http://192.0.2.1:9870:\n\n  connection refused\n" }
  }
}
