# primary_unchecked_auto: automatic failover is on and the backup cannot
# check the primary; takeover follows if it lasts.
config = ["testdata/backup.hcl"]
rules  = ["primary_unchecked_auto"]

# Issue 13, finding 2: the prediction is said once. takeover_after later
# takeover reports the takeover, so a repeated "will take over if this
# lasts" would be false for days after it.
test "fires after a minute, once, resolves" {
  facts "0m" {
    node = { auto_failover = true }
    peer "partner" {
      error = "GET http://192.0.2.1:9870/v1/status: status 500 Internal Server Error"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  facts "8h10m" {
    peer "partner" {}
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["primary_unchecked_auto"]
    subject = { primary_unchecked_auto = "appliance-b: the backup cannot check the primary and will take over if this lasts" }
    text    = { primary_unchecked_auto = "silent for\n5m in all, the backup becomes the primary" }
  }
  expect "8h9m" {}
  expect "8h10m" {
    resolve = ["primary_unchecked_auto"]
  }
}

test "with automatic failover off primary_unchecked_manual speaks instead" {
  facts "0m" {
    peer "partner" {
      error = "timeout"
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
  }
  expect "1h" {}
}
