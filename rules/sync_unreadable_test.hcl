# sync_unreadable: the time of the last sync cannot be read. The check
# sync reads the sync_file of testdata/primary.hcl. Each test runs
# sync_stale too: an unreadable sync file is not a stale sync (issue 13,
# finding 4).
config = ["testdata/primary.hcl"]
test "an unreadable sync file is not a stale sync" {
  rules = ["sync_stale", "sync_unreadable"]
  facts "0m" {
    check "sync" {
      path  = "/var/lib/product/last-sync"
      error = "stat /var/lib/product/last-sync: permission denied"
    }
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["sync_unreadable"]
    subject = { sync_unreadable = "appliance-a: the time of the last data synchronisation cannot be read" }
    text    = { sync_unreadable = "stat /var/lib/product/last-sync: permission denied" }
  }
  expect "1d5m" {}
  expect "1d6m" {
    repeat = ["sync_unreadable"]
  }
}

test "a file that does not exist is no sync, not unreadable" {
  rules = ["sync_stale", "sync_unreadable"]
  facts "0m" {
    check "sync" {
      exists = false
      error  = "stat /var/lib/product/last-sync: no such file or directory"
    }
  }
  expect "6m" {
    fire = ["sync_stale"]
  }
}

test "a file read in time is neither" {
  rules = ["sync_stale", "sync_unreadable"]
  facts "0m" {
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
  }
  expect "12h" {}
}
