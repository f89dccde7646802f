# backup_ops_disabled: backup operations are off on the backup.
# testdata/backup.hcl reads backup_ops from the product's state file
# (check "product", json.backup_ops).
config = ["testdata/backup.hcl"]
rules  = ["backup_ops_disabled"]

test "fires after 5m, repeats daily, resolves" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = false }
    }
  }
  facts "2d" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["backup_ops_disabled"]
    subject = { backup_ops_disabled = "appliance-b: backup operations are disabled" }
  }
  expect "1d6m" {
    repeat = ["backup_ops_disabled"]
  }
  expect "2d" {
    resolve = ["backup_ops_disabled"]
  }
}

test "a short maintenance does not fire" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = false }
    }
  }
  facts "4m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "1h" {}
}

test "a backup_ops that is not a bool is an evaluation error" {
  facts "0m" {
    check "product" {
      json = { version = "7.1" }
    }
  }
  expect "1m" {
    error = ["backup_ops_disabled"]
  }
}
