# Scenario (issue 13): the primary is upgraded to 7.2 at 1h and the
# backup is not, for two days. The backup's view (testdata/backup.hcl);
# the primary does not compare versions, so that the pair mails once.
# What the operator receives from the backup, and why:
# - startup and the daily heartbeats, as always;
# - primary_unchecked_manual and its Resolved mail: the primary's
#   restart for the upgrade took 3 minutes, and for those the backup
#   could not check it, with nothing to take over. Here the upgrade
#   killed the primary's agent without a stop notice; one stopped
#   cleanly says so (scenario_planned_stop_test.hcl);
# - version_mismatch 10 minutes after the primary comes back on 7.2, and
#   once a day while it lasts: a failover between different versions may
#   fail or lose data. An upgrade of both nodes within 10 minutes sends
#   nothing about versions.
config = ["testdata/backup.hcl"]

test "the primary upgraded, the backup not: 2 mails about the versions in two days" {
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
  # The upgrade: the primary is away for 3 minutes, then answers with
  # 7.2. The sync goes on.
  facts "1h" {
    peer "partner" {
      error = "connection refused"
    }
  }
  facts "1h3m" {
    peer "partner" {
      role      = "primary"
      version   = "7.2"
      last_sync = at("1h3m")
    }
    check "sync" {
      exists = true
      mtime  = at("1h3m")
    }
  }
  facts "1d" {
    peer "partner" {
      role      = "primary"
      version   = "7.2"
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
    fire = ["primary_unchecked_manual"]
  }
  expect "1h3m" {
    resolve = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "Resolved: appliance-b: the backup cannot check the primary" }
  }
  expect "1h12m" {}
  expect "1h13m" {
    fire    = ["version_mismatch"]
    subject = { version_mismatch = "appliance-b: version mismatch: 7.1 here, 7.2 on the primary" }
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d1h13m" {
    repeat = ["version_mismatch"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}
