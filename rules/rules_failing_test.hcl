# rules_failing: a rule of the agent cannot be evaluated, so it cannot
# alert: said by mail, not only in the log (issue 13, finding 9).
# testdata/backup.hcl reads backup_ops from the product's state file;
# one without it makes backup_ops_disabled fail.
config = ["testdata/backup.hcl"]
rules  = ["backup_ops_disabled", "rules_failing"]

test "a rule that keeps failing is mailed after 10m, daily, and resolves" {
  facts "0m" {
    check "product" {
      json = { version = "7.1" }
    }
  }
  facts "2d" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "1m" {
    error = ["backup_ops_disabled"]
  }
  expect "11m" {}
  expect "12m" {
    fire    = ["rules_failing"]
    subject = { rules_failing = "appliance-b: 1 rule cannot be evaluated" }
    text    = { rules_failing = "  backup_ops_disabled: rule \"backup_ops_disabled\": when: " }
  }
  expect "1d12m" {
    repeat = ["rules_failing"]
  }
  expect "2d1m" {
    resolve = ["rules_failing"]
  }
}

test "a failure shorter than 10m is only logged" {
  facts "0m" {
    check "product" {
      json = { version = "7.1" }
    }
  }
  facts "5m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "1m" {
    error = ["backup_ops_disabled"]
  }
  expect "1h" {}
}
