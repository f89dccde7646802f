# Scenario (issue 13): the data synchronisation of the pair stops and
# stays stopped for two days; everything else is well. The primary's
# view: testdata/primary.hcl (scenario_sync_stopped_backup_test.hcl has
# the backup's). What the operator receives from this node, and why:
# - startup (1m): the agent runs and its mail goes out;
# - daily_heartbeat (08:00 each day): proof that mail still flows;
# - sync_stale (24h and 5m after the last sync, then daily): a failover
#   now would lose a day of changes. The pair says it once: the backup
#   stays quiet while it can check the primary.
config = ["testdata/primary.hcl"]

test "the sync stopped: 2 mails about it in two days, from the primary only" {
  facts "0m" {
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "shared_ip_0" {
      address  = "192.0.2.10"
      assigned = true
      up       = true
    }
    check "shared_ip_1" {
      address  = "192.0.2.11"
      assigned = true
      up       = true
    }
    peer "partner" {
      role      = "backup"
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
  expect "23h6m" {
    fire    = ["sync_stale"]
    subject = { sync_stale = "appliance-a: no data synchronisation for more than 24 hours" }
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "1d23h6m" {
    repeat = ["sync_stale"]
  }
  expect "2d" {}
}
