# version_mismatch: the backup sees another product version on the
# primary. node.version comes from the backup's check "product" (see
# testdata/backup.hcl), the primary's from peer.partner.
config = ["testdata/backup.hcl"]
rules  = ["version_mismatch"]

test "fires after 10m, repeats daily, resolves" {
  start = "2026-11-23T08:00:00Z"
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    peer "partner" {
      version = "7.2"
    }
  }
  facts "1d2h" {
    peer "partner" {
      version = "7.1"
    }
  }
  # First evaluation at 1m: pending; 10 minutes later it fires.
  expect "10m" {}
  expect "11m" {
    fire    = ["version_mismatch"]
    subject = { version_mismatch = "appliance-b: version mismatch: 7.1 here, 7.2 on the primary" }
    text    = { version_mismatch = "the primary (http://192.0.2.1:9870): 7.2" }
  }
  expect "1d10m" {}
  expect "1d11m" {
    repeat = ["version_mismatch"]
  }
  expect "1d2h" {
    resolve = ["version_mismatch"]
    subject = { version_mismatch = "Resolved: appliance-b: version mismatch: 7.1 here, 7.1 on the primary" }
  }
}

test "a short mismatch during an update does not fire" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    peer "partner" {
      version = "7.2"
    }
  }
  facts "9m" {
    peer "partner" {
      version = "7.1"
    }
  }
  expect "1h" {}
}

test "an unreachable primary is not a mismatch" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "1h" {}
}

test "the primary does not report it, so the pair sends one mail" {
  facts "0m" {
    node = { role = "primary" }
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    peer "partner" {
      version = "7.2"
    }
  }
  expect "1h" {}
}
