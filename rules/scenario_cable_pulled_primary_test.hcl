# Scenario (issue 13): the backup's network cable is pulled for two
# hours; the primary's view (testdata/primary.hcl). What the operator
# receives from the primary, and why:
# - backup_lost 10 minutes after the backup went silent: the pair has no
#   redundancy, and nothing would take over if the primary failed now;
#   and its Resolved when the backup answers again.
config = ["testdata/primary.hcl"]

test "cable pulled for two hours: the primary says the pair lost its redundancy" {
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
      role    = "backup"
      version = "7.1"
    }
  }
  facts "1h" {
    peer "partner" {
      error = "dial tcp 192.0.2.2:9870: connect: no route to host"
    }
  }
  facts "3h" {
    peer "partner" {
      role    = "backup"
      version = "7.1"
    }
    check "sync" {
      exists = true
      mtime  = at("3h")
    }
  }
  # The sync goes on once the backup is back.
  facts "1d" {
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
  expect "1h9m" {}
  expect "1h10m" {
    fire    = ["backup_lost"]
    subject = { backup_lost = "appliance-a: the backup has been unreachable for 10m" }
  }
  expect "3h" {
    resolve = ["backup_lost"]
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}
