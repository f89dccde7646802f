# takeover: automatic failover is on and the primary stayed silent for
# takeover_after (5m in testdata/backup.hcl): the backup takes over.
config = ["testdata/backup.hcl"]
rules  = ["takeover"]

test "fires after takeover_after, repeats daily, resolves when the primary answers" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "1d1h" {
    peer "partner" {}
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["takeover"]
    subject = { takeover = "appliance-b: the backup takes over: the primary has been silent for 5m" }
    text    = { takeover = "has not answered since 2026-01-01T00:01:00Z" }
  }
  expect "1d6m" {
    repeat = ["takeover"]
  }
  expect "1d1h" {
    resolve = ["takeover"]
  }
}

test "primary_unchecked_auto warns first, takeover follows" {
  rules = ["primary_unchecked_auto", "takeover"]
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "2m" {
    fire = ["primary_unchecked_auto"]
  }
  expect "6m" {
    fire = ["takeover"]
  }
}

test "a primary back within takeover_after is no takeover" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "4m" {
    peer "partner" {}
  }
  expect "1h" {}
}

test "an isolated backup does not take over" {
  facts "0m" {
    node = { auto_failover = true }
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

test "without automatic failover nothing takes over" {
  facts "0m" {
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "1h" {}
}

# Issue 13, finding 1: a backup whose operations are disabled does not
# take over. It says so (backup_ops_disabled) and that nothing will take
# over (primary_unchecked_manual), never that it will or does.
test "backup operations off: no takeover, and no warning that one comes" {
  rules = ["takeover", "primary_unchecked_auto", "primary_unchecked_manual", "backup_ops_disabled"]
  facts "0m" {
    node = { auto_failover = true }
    check "product" {
      json = { version = "7.1", backup_ops = false }
    }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the backup cannot check the primary (backup operations are disabled)" }
    text    = { primary_unchecked_manual = "Backup operations are disabled: if the primary is down, nothing takes over" }
  }
  expect "6m" {
    fire = ["backup_ops_disabled"]
  }
  expect "4h1m" {}
  expect "4h2m" {
    repeat = ["primary_unchecked_manual"]
  }
}

# Issue 13, finding 2 (in part): when the role is observed and turns to
# primary, that is the takeover itself: no "Resolved: the backup takes
# over", and no "Resolved: cannot check the primary" while the old
# primary is still down.
test "the role turns to primary: the takeover and its warning end without a Resolved mail" {
  rules = ["primary_unchecked_auto", "takeover"]
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "10m" {
    node = { auto_failover = true, role = "primary" }
  }
  expect "2m" {
    fire = ["primary_unchecked_auto"]
  }
  expect "6m" {
    fire = ["takeover"]
  }
  expect "10m" {
    resolve = ["primary_unchecked_auto", "takeover"]
    silent  = ["primary_unchecked_auto", "takeover"]
  }
}

# Issue 18, part 3: the primary announced its stop. The backup takes
# over all the same (a planned stop still needs a working backup), and
# the mail says the primary's operator stopped it, and when; killed
# without a notice, the usual mail.
test "a primary stopped by its operator: takeover as configured, the mail says so" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error       = "connection refused"
      stopping    = true
      stopped_at  = "2026-01-01T00:00:00Z"
      stop_reason = "signal SIGTERM"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["takeover"]
    subject = { takeover = "appliance-b: the backup takes over: the primary has been stopped by its operator at 2026-01-01T00:00:00Z and down for 5m" }
    text    = { takeover = "The primary was stopped by its operator at 2026-01-01T00:00:00Z (signal SIGTERM),\nand has not answered since 2026-01-01T00:01:00Z:\n\n  connection refused\n\nAutomatic failover is on, so the backup appliance-b becomes the\nprimary. A planned stop of the primary still needs a working\nbackup. Before you start the old primary again, make sure it comes\nback as the backup: two primaries must never run at once.\n" }
  }
}

test "a primary gone without a notice: the usual mail" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "connection refused"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "6m" {
    fire    = ["takeover"]
    subject = { takeover = "appliance-b: the backup takes over: the primary has been silent for 5m" }
    text    = { takeover = "The primary at http://192.0.2.1:9870 has not answered since 2026-01-01T00:01:00Z:\n\n  connection refused\n\nAutomatic failover is on, so the backup appliance-b becomes the\nprimary. Find out why the old primary failed before you bring it back:\ntwo primaries must never run at once.\n" }
  }
}
