# takeover_overdue: the role is read from the product
# (testdata/backup_observed.hcl: automatic failover on, takeover_after
# 5m), so the agent sees whether the takeover happens. When it does not
# within takeover_after and 5 minutes more, the backup says so.
config = ["testdata/backup_observed.hcl"]
rules  = ["takeover_overdue"]

test "no takeover: fires after takeover_after and 5 minutes, repeats every 4 hours, resolves when the primary answers" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
    }
  }
  facts "1d1h" {
    peer "partner" {
      role = "primary"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["takeover_overdue"]
    subject = { takeover_overdue = "appliance-b: no takeover: the primary has been silent for 10 minutes and automatic failover is on, but this node is still the backup" }
    text    = { takeover_overdue = "The primary at http://192.0.2.1:9870 has not answered since 2026-01-01T00:01:00Z:\n\n  dial tcp 192.0.2.1:9870: connect: no route to host\n\nAutomatic failover is on, so the product should have made\nappliance-b the primary after 5m; its role\nstill reads backup." }
  }
  expect "4h10m" {}
  expect "4h11m" {
    repeat  = ["takeover_overdue"]
    subject = { takeover_overdue = "the primary has been silent for 4 hours" }
  }
  expect "1d12m" {
    repeat = ["takeover_overdue", "takeover_overdue", "takeover_overdue", "takeover_overdue", "takeover_overdue"]
  }
  # The old primary answers: the outage is over.
  expect "1d1h" {
    resolve = ["takeover_overdue"]
    subject = { takeover_overdue = "Resolved: appliance-b: no takeover" }
  }
  expect "2d" {}
}

test "the product takes over late: the alert ends without a Resolved mail, role_became_primary says it" {
  rules = ["takeover_overdue", "role_became_primary", "primary_unchecked_auto"]
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
    }
  }
  facts "30m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
  }
  expect "2m" {
    fire = ["primary_unchecked_auto"]
  }
  expect "11m" {
    fire = ["takeover_overdue"]
  }
  expect "30m" {
    resolve = ["primary_unchecked_auto", "takeover_overdue"]
    silent  = ["primary_unchecked_auto", "takeover_overdue"]
  }
  expect "32m" {
    fire    = ["role_became_primary"]
    subject = { role_became_primary = "appliance-b: the backup took over and is the primary now" }
  }
  expect "2d" {}
}

test "the product takes over in time: no alert" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
    }
  }
  facts "6m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
  }
  expect "2d" {}
}

test "a primary back before takeover_after and 5 minutes: no alert" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "connection refused"
    }
  }
  facts "9m" {
    peer "partner" {
      role = "primary"
    }
  }
  expect "1d" {}
}

test "automatic failover switched off during the alert: it ends without a Resolved mail, primary_unchecked_manual carries on" {
  rules = ["takeover_overdue", "primary_unchecked_manual"]
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "connection refused"
    }
  }
  facts "1h" {
    node = { auto_failover = false }
  }
  expect "11m" {
    fire = ["takeover_overdue"]
  }
  expect "59m" {}
  expect "1h" {
    resolve = ["takeover_overdue"]
    silent  = ["takeover_overdue"]
  }
  expect "1h1m" {
    fire = ["primary_unchecked_manual"]
  }
}

test "nothing is overdue where nothing would take over: failover off, backup operations off, or the backup isolated" {
  rules = ["takeover_overdue"]
  facts "0m" {
    node = { auto_failover = false }
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "connection refused"
    }
  }
  facts "1h" {
    node = { auto_failover = true }
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = false }
    }
  }
  facts "2h" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
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
  expect "1d" {}
}

test "the primary's node: never" {
  facts "0m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "1d" {}
}

# Issue 18, part 3: the primary announced its stop and the product does
# not take over: the mail says the primary's operator stopped it, and
# when; the alert is as critical as for a failure, since nothing serves.
test "a primary stopped by its operator and no takeover: the mail says so" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      error       = "connection refused"
      stopping    = true
      stopped_at  = "2026-01-01T00:00:00Z"
      stop_reason = "signal SIGTERM"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["takeover_overdue"]
    subject = { takeover_overdue = "appliance-b: no takeover: the primary has been stopped by its operator for 10 minutes and automatic failover is on, but this node is still the backup" }
    text    = { takeover_overdue = "The primary was stopped by its operator at 2026-01-01T00:00:00Z (signal SIGTERM),\nand has not answered since 2026-01-01T00:01:00Z:\n\n  connection refused\n\nAutomatic failover is on" }
  }
}
