# Scenario (issue 18, part 3): the primary is stopped for maintenance
# (SIGTERM: systemctl stop, a package upgrade) for 30 minutes at 1h, and
# started again. Its agent tells the backup before it exits, so the
# backup's peer fact says stopping, with the time and the reason, until
# the primary answers again as running. The backup's view
# (testdata/backup.hcl); the primary's own shutdown and startup mails
# are left out of the count, as in every scenario. What the operator
# receives from the backup, and why:
# - startup and the daily heartbeats, as always;
# - with automatic failover off, 2 mails: primary_unchecked_manual a
#   minute after the stop, saying the primary was stopped by its
#   operator and when (not that it failed), and its Resolved when the
#   primary is back;
# - with automatic failover on (a fixed role), 4 mails:
#   primary_unchecked_auto ("the primary was stopped by its operator at
#   ...; the backup will take over if it stays down"), takeover 5
#   minutes after the stop, saying the same (the takeover goes ahead: a
#   planned stop still needs a working backup), and their two Resolved
#   mails when the old primary answers.
# Killed without a notice (SIGKILL, a power cut), the same mails come
# with the texts of a failure (scenario_primary_off_test.hcl).
config = ["testdata/backup.hcl"]

test "the primary stopped for maintenance, automatic failover off: 2 mails that say it was stopped" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  # SIGTERM: the primary's agent tells the backup, then exits.
  facts "1h" {
    peer "partner" {
      error       = "dial tcp 192.0.2.1:9870: connect: connection refused"
      stopping    = true
      stopped_at  = at("1h")
      stop_reason = "signal SIGTERM"
    }
  }
  # Back, and running: the backup forgets the notice.
  facts "1h30m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("1h30m")
    }
    check "sync" {
      exists = true
      mtime  = at("1h30m")
    }
  }
  facts "1d" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("1d")
    }
    check "sync" {
      exists = true
      mtime  = at("1d")
    }
  }
  expect "1m" {
    fire = ["startup"]
  }
  expect "5m" {
    resolve = ["startup"]
    silent  = ["startup"]
  }
  expect "1h1m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the primary was stopped by its operator at 2026-01-01T01:00:00Z (automatic failover is off)" }
    text    = { primary_unchecked_manual = "The primary was stopped by its operator at 2026-01-01T01:00:00Z (signal SIGTERM)" }
  }
  expect "1h30m" {
    resolve = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "Resolved: appliance-b: the backup cannot check the primary" }
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}

test "the primary stopped for maintenance, automatic failover on: 4 mails that say it was stopped, and the takeover" {
  facts "0m" {
    node = { auto_failover = true }
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h" {
    peer "partner" {
      error       = "dial tcp 192.0.2.1:9870: connect: connection refused"
      stopping    = true
      stopped_at  = at("1h")
      stop_reason = "signal SIGTERM"
    }
  }
  facts "1h30m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("1h30m")
    }
    check "sync" {
      exists = true
      mtime  = at("1h30m")
    }
  }
  facts "1d" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("1d")
    }
    check "sync" {
      exists = true
      mtime  = at("1d")
    }
  }
  expect "1m" {
    fire = ["startup"]
  }
  expect "5m" {
    resolve = ["startup"]
    silent  = ["startup"]
  }
  expect "1h1m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "appliance-b: the primary was stopped by its operator at 2026-01-01T01:00:00Z; the backup will take over if it stays down" }
  }
  expect "1h4m" {}
  expect "1h5m" {
    fire    = ["takeover"]
    subject = { takeover = "appliance-b: the backup takes over: the primary has been stopped by its operator at 2026-01-01T01:00:00Z and down for 5m" }
    text    = { takeover = "A planned stop of the primary still needs a working\nbackup." }
  }
  expect "1h30m" {
    resolve = ["primary_unchecked_auto", "takeover"]
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}
