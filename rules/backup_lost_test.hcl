# backup_lost: the primary cannot check its backup for backup_lost_after
# (10m by default, as in testdata/primary.hcl): the pair has lost its
# redundancy (issue 13, finding 10).
config = ["testdata/primary.hcl"]
rules  = ["backup_lost"]

test "fires after backup_lost_after, repeats every 4h, resolves" {
  facts "0m" {
    peer "partner" {
      error = "dial tcp 192.0.2.2:9870: connect: no route to host"
    }
  }
  facts "9h" {
    peer "partner" {
      version = "7.1"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["backup_lost"]
    subject = { backup_lost = "appliance-a: the backup has been unreachable for 10m: the pair has no redundancy" }
    text    = { backup_lost = "no route to host" }
  }
  expect "4h11m" {
    repeat = ["backup_lost"]
  }
  expect "8h11m" {
    repeat = ["backup_lost"]
  }
  expect "9h" {
    resolve = ["backup_lost"]
  }
}

test "a backup back within backup_lost_after is no loss" {
  facts "0m" {
    peer "partner" {
      error = "connection refused"
    }
  }
  facts "9m" {
    peer "partner" {}
  }
  expect "1h" {}
}

test "the backup does not speak of itself" {
  facts "0m" {
    node = { role = "backup" }
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "1h" {}
}

# Issue 18, part 3: the backup announced its stop (its agent tells its
# peers too). The pair has no redundancy all the same, and the mail says
# the backup's operator stopped it, and when.
test "a backup stopped by its operator: the mail says so" {
  facts "0m" {
    peer "partner" {
      error       = "connection refused"
      stopping    = true
      stopped_at  = "2026-01-01T00:00:00Z"
      stop_reason = "signal SIGTERM"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["backup_lost"]
    subject = { backup_lost = "appliance-a: the backup has been stopped by its operator at 2026-01-01T00:00:00Z and down for 10m: the pair has no redundancy" }
    text    = { backup_lost = "The backup was stopped by its operator at 2026-01-01T00:00:00Z (signal SIGTERM),\nand the primary appliance-a has not reached it at\nhttp://192.0.2.2:9870 since 2026-01-01T00:01:00Z:\n\n  connection refused\n" }
  }
}

test "a backup gone without a notice: the usual mail" {
  facts "0m" {
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "11m" {
    fire    = ["backup_lost"]
    subject = { backup_lost = "appliance-a: the backup has been unreachable for 10m: the pair has no redundancy" }
    text    = { backup_lost = "The primary appliance-a has not reached its backup at\nhttp://192.0.2.2:9870 since 2026-01-01T00:01:00Z:\n\n  connection refused\n" }
  }
}
