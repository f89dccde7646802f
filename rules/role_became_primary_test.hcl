# role_became_primary: the role is read from the product
# (testdata/backup_observed.hcl), so the takeover is reported when it
# happens, not predicted.
config = ["testdata/backup_observed.hcl"]
rules  = ["role_became_primary", "role_became_backup", "primary_unchecked_auto"]

test "the primary fails and the backup takes over: the takeover, with the old primary's error" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    peer "partner" {
      role = "primary"
    }
  }
  facts "1h" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
    }
  }
  # The product takes over 5 minutes later.
  facts "1h5m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
  }
  expect "1h1m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "will take over if this lasts" }
  }
  # Read as primary for 2 minutes: the takeover. primary_unchecked_auto
  # ends without a mail as the role turned (the old primary is still down).
  expect "1h6m" {
    resolve = ["primary_unchecked_auto"]
    silent  = ["primary_unchecked_auto"]
  }
  expect "1h7m" {
    fire    = ["role_became_primary"]
    subject = { role_became_primary = "appliance-b: the backup took over and is the primary now" }
    text    = { role_became_primary = "appliance-b has been the primary since 2026-01-01T01:05:00Z; it was the backup.\n\nThe old primary at http://192.0.2.1:9870 does not answer:\n\n  dial tcp 192.0.2.1:9870: connect: no route to host" }
  }
  # Once, not repeated, and nothing when the old primary comes back.
  expect "3d" {}
}

test "a switchover by hand: the old primary answers" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    peer "partner" {
      role = "primary"
    }
  }
  facts "1h" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
    peer "partner" {
      role = "backup"
    }
  }
  expect "1h1m" {}
  expect "1h2m" {
    fire    = ["role_became_primary"]
    subject = { role_became_primary = "appliance-b: switched from backup to primary" }
    text    = { role_became_primary = "The old primary at http://192.0.2.1:9870 answers, as backup: a switchover by hand?" }
  }
  # And back: role_became_backup, role_became_primary ends silently.
  facts "2h" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    peer "partner" {
      role = "primary"
    }
  }
  expect "2h2m" {
    fire    = ["role_became_backup"]
    resolve = ["role_became_primary"]
    silent  = ["role_became_primary"]
    subject = { role_became_backup = "appliance-b: no longer the primary, the backup now" }
    text    = { role_became_backup = "The partner at http://192.0.2.1:9870 answers, as primary." }
  }
  expect "1d" {}
}

test "a role check that misreads once, or fails, mails nothing" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    peer "partner" {
      role = "primary"
    }
  }
  facts "1h" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
  }
  facts "1h1m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
  }
  facts "2h" {
    check "product" {
      error = "open /etc/product/state.json: permission denied"
    }
  }
  facts "3h" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
  }
  expect "1d" {}
}

test "the first role read is no change: an agent that starts as the primary says nothing" {
  facts "0m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
    }
    peer "partner" {
      role = "backup"
    }
  }
  expect "1d" {}
}
