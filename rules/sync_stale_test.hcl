# sync_stale: no data synchronisation for 24 hours. The check sync reads
# the sync_file of testdata/primary.hcl; its mtime is the last sync.
config = ["testdata/primary.hcl"]
rules  = ["sync_stale"]

test "fires 5m after the last sync is 24h old, repeats daily, resolves" {
  facts "0m" {
    check "sync" {
      path   = "/var/lib/product/last-sync"
      exists = true
      mtime  = at("-23h")
    }
  }
  facts "1d2h" {
    check "sync" {
      path   = "/var/lib/product/last-sync"
      exists = true
      mtime  = at("1d2h")
    }
  }
  # 24h old at 1h; more than 24h from 1h1m; 5 minutes later it fires.
  expect "1h5m" {}
  expect "1h6m" {
    fire    = ["sync_stale"]
    subject = { sync_stale = "appliance-a: no data synchronisation for more than 24 hours" }
    text    = { sync_stale = "last sync: 2025-12-31T01:00:00Z (the modification time of /var/lib/product/last-sync)" }
  }
  expect "1d1h6m" {
    repeat = ["sync_stale"]
  }
  expect "1d2h" {
    resolve = ["sync_stale"]
  }
}

test "a sync file that does not exist counts as no sync" {
  facts "0m" {
    check "sync" {
      exists = false
      error  = "stat /var/lib/product/last-sync: no such file or directory"
    }
  }
  expect "6m" {
    fire = ["sync_stale"]
    text = { sync_stale = "last sync: never" }
  }
}

test "a recent sync is no problem" {
  facts "0m" {
    check "sync" {
      mtime = at("-1h")
    }
  }
  expect "12h" {}
}

# Issue 13, finding 8: both nodes may set sync_file, but a stopped sync is
# one event of the pair: the primary mails it, the backup only while it
# cannot check the primary (then nobody else would).
test "the backup leaves a stale sync to the primary" {
  facts "0m" {
    node = { role = "backup" }
    peer "partner" {
      version   = "7.1"
      last_sync = at("-2d")
    }
    check "sync" {
      exists = true
      mtime  = at("-2d")
    }
  }
  facts "2h" {
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "2h4m" {}
  expect "2h5m" {
    fire = ["sync_stale"]
  }
}

test "the backup speaks when the primary keeps no sync time" {
  facts "0m" {
    node = { role = "backup" }
    peer "partner" {
      version = "7.1"
    }
    check "sync" {
      exists = true
      mtime  = at("-2d")
    }
  }
  expect "5m" {}
  expect "6m" {
    fire = ["sync_stale"]
  }
}
