# primary_unchecked_manual: automatic failover is off (testdata/backup.hcl)
# and the backup cannot check the primary.
config = ["testdata/backup.hcl"]
rules  = ["primary_unchecked_manual"]

test "fires after a minute, repeats every 4h, resolves" {
  facts "0m" {
    peer "partner" {
      error = "GET http://192.0.2.1:9870/v1/status: context deadline exceeded"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "4h30m" {
    peer "partner" {}
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the backup cannot check the primary (automatic failover is off)" }
    text    = { primary_unchecked_manual = "context deadline exceeded" }
  }
  expect "4h2m" {
    repeat = ["primary_unchecked_manual"]
  }
  expect "4h30m" {
    resolve = ["primary_unchecked_manual"]
  }
}

test "with automatic failover primary_unchecked_auto speaks instead" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "timeout"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "1h" {}
}

test "an isolated backup is backup_isolated's" {
  facts "0m" {
    peer "partner" {
      error = "network is unreachable"
    }
    check "test_ip_0" {
      error = "no reply"
    }
    check "test_ip_1" {
      error = "no reply"
    }
  }
  expect "1h" {}
}

# Issue 13, finding 6: switching automatic failover on during an outage
# changes the alert's shape, it fixes nothing: primary_unchecked_manual
# ends without a Resolved mail, and primary_unchecked_auto carries on.
test "automatic failover switched on: no Resolved mail, the auto warning follows" {
  rules = ["primary_unchecked_manual", "primary_unchecked_auto"]
  facts "0m" {
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "1h" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire = ["primary_unchecked_manual"]
  }
  expect "1h" {
    resolve = ["primary_unchecked_manual"]
    silent  = ["primary_unchecked_manual"]
  }
  expect "1h1m" {
    fire = ["primary_unchecked_auto"]
  }
}

# An impostor answers at the primary's address (issue 14): the pinned
# peer link refuses it, the peer fact fails (reachable false, as
# core/facts' TestCheckPeer_Pinned shows), and the library treats the
# primary as unchecked, not as healthy, quoting what did not match.
test "an impostor at the primary's address is an unchecked primary" {
  facts "0m" {
    peer "partner" {
      error = "GET https://192.0.2.1:9870/v1/status: not the partner: the partner presented certificate sha256:1f2e000000000000000000000000000000000000000000000000000000000000 ; the pinned fingerprint is sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef: if the partner's identity changed on purpose, pin the new one (tocsin identity on the partner prints it)"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire = ["primary_unchecked_manual"]
    text = { primary_unchecked_manual = "not the partner: the partner presented certificate sha256:1f2e" }
  }
}

# Issue 18, part 3: the primary announced its stop; nothing takes over,
# and the mail says its operator stopped it, and when. Killed without a
# notice, the usual mail.
test "a primary stopped by its operator: the mail says so" {
  facts "0m" {
    node = { auto_failover = false }
    peer "partner" {
      error       = "connection refused"
      stopping    = true
      stopped_at  = "2026-01-01T00:00:00Z"
      stop_reason = "signal SIGTERM"
    }
    check "product" {
      json = { backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the primary was stopped by its operator at 2026-01-01T00:00:00Z (automatic failover is off)" }
    text    = { primary_unchecked_manual = "The primary was stopped by its operator at 2026-01-01T00:00:00Z (signal SIGTERM):\nit told the backup appliance-b so before it went. Since then the\nbackup cannot check it at http://192.0.2.1:9870:\n\n  connection refused\n\nAutomatic failover is off: if the primary is down, nothing takes over" }
  }
}

test "a primary gone without a notice: the usual mail" {
  facts "0m" {
    node = { auto_failover = false }
    peer "partner" {
      error = "connection refused"
    }
    check "product" {
      json = { backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the backup cannot check the primary (automatic failover is off)" }
    text    = { primary_unchecked_manual = "The backup appliance-b cannot check the primary at http://192.0.2.1:9870:\n\n  connection refused\n" }
  }
}
