# Scenario (issue 13): the data synchronisation stops for two days; the
# backup's view (testdata/backup.hcl, which sets sync_file too). The
# backup says nothing about it while the primary, which it can check,
# reports its sync time and speaks (scenario_sync_stopped_test.hcl): only
# its startup and heartbeats.
config = ["testdata/backup.hcl"]

test "the sync stopped: the backup leaves it to the primary" {
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
  expect "1m" {
    fire = ["startup"]
  }
  expect "5m" {
    resolve = ["startup"]
    silent  = ["startup"]
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}
