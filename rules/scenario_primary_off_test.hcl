# Scenario (issue 13): the primary is powered off at 1h and stays off for
# two days; the backup's view (testdata/backup.hcl; the primary, off,
# sends nothing). What the operator receives, and why:
# - with automatic failover off: primary_unchecked_manual a minute after,
#   then every 4 hours (12 mails in two days). Nothing takes over, so the
#   service is down until someone fails over by hand: a reminder every 4
#   hours is what that deserves;
# - with automatic failover on: primary_unchecked_auto once ("will take
#   over if this lasts"), takeover_after later takeover ("the backup takes
#   over"), repeated daily while the old primary is down (3 mails);
# - in both, sync_stale from the backup 24 hours after the last sync,
#   then daily (2 mails): the primary, which would say it, is off, and
#   what the backup holds is all the data there is.
config = ["testdata/backup.hcl"]

test "primary powered off, automatic failover off: 14 mails in two days" {
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
  facts "1h" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
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
    subject = { primary_unchecked_manual = "appliance-b: the backup cannot check the primary (automatic failover is off)" }
  }
  expect "8h" {
    repeat = ["primary_unchecked_manual"]
    fire   = ["daily_heartbeat"]
  }
  expect "23h6m" {
    repeat = ["primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual"]
    fire   = ["sync_stale"]
  }
  expect "2d" {
    repeat = [
      "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual",
      "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual",
      "daily_heartbeat", "sync_stale",
    ]
  }
}

test "primary powered off, automatic failover on: 5 mails in two days" {
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
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
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
    subject = { primary_unchecked_auto = "will take over if this lasts" }
  }
  expect "1h5m" {
    fire    = ["takeover"]
    subject = { takeover = "appliance-b: the backup takes over: the primary has been silent for 5m" }
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "23h6m" {
    fire = ["sync_stale"]
  }
  expect "2d" {
    repeat = ["takeover", "daily_heartbeat", "sync_stale"]
  }
}
