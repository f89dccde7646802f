# backup_isolated: the backup reaches neither the primary nor a test IP.
# testdata/backup.hcl has two test IPs: the checks test_ip_0 and test_ip_1.
config = ["testdata/backup.hcl"]
rules  = ["backup_isolated"]

test "fires after a minute, repeats every 4h, resolves" {
  facts "0m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: network is unreachable"
    }
    check "test_ip_0" {
      address = "192.0.2.254"
      error   = "no reply from 192.0.2.254 (3 sent)"
    }
    check "test_ip_1" {
      address = "198.51.100.1"
      error   = "no reply from 198.51.100.1 (3 sent)"
    }
  }
  facts "9h" {
    check "test_ip_1" {
      address = "198.51.100.1"
    }
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["backup_isolated"]
    subject = { backup_isolated = "appliance-b: the backup is isolated" }
    text    = { backup_isolated = "  test IP 198.51.100.1: no reply from 198.51.100.1 (3 sent)\n" }
  }
  expect "4h2m" {
    repeat = ["backup_isolated"]
  }
  expect "8h2m" {
    repeat = ["backup_isolated"]
  }
  expect "9h" {
    resolve = ["backup_isolated"]
  }
}

test "one test IP that answers means the primary failed, not the backup" {
  facts "0m" {
    peer "partner" {
      error = "timeout"
    }
    check "test_ip_0" {
      error = "no reply"
    }
    check "test_ip_1" {}
  }
  expect "1h" {}
}

test "a primary that answers with an error is still reachable" {
  facts "0m" {
    peer "partner" {
      error     = "GET http://192.0.2.1:9870/v1/status: status 503"
      reachable = true
    }
    check "test_ip_0" {
      error = "no reply"
    }
    check "test_ip_1" {
      error = "no reply"
    }
  }
  expect "1h" {}
}
