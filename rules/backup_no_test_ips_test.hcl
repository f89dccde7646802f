# backup_no_test_ips: the backup reaches the primary, but none of its
# test IPs (the checks test_ip_0 and test_ip_1 of testdata/backup.hcl).
config = ["testdata/backup.hcl"]
rules  = ["backup_no_test_ips"]

test "fires after 5m, repeats daily, resolves" {
  facts "0m" {
    peer "partner" {}
    check "test_ip_0" {
      address = "192.0.2.254"
      error   = "no reply from 192.0.2.254 (3 sent)"
    }
    check "test_ip_1" {
      address = "198.51.100.1"
      error   = "no reply from 198.51.100.1 (3 sent)"
    }
  }
  facts "1d3h" {
    check "test_ip_0" {
      address = "192.0.2.254"
    }
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["backup_no_test_ips"]
    subject = { backup_no_test_ips = "appliance-b: the backup reaches none of its test IPs" }
    text    = { backup_no_test_ips = "  192.0.2.254: no reply from 192.0.2.254 (3 sent)\n" }
  }
  expect "1d6m" {
    repeat = ["backup_no_test_ips"]
  }
  expect "1d3h" {
    resolve = ["backup_no_test_ips"]
  }
}

test "when the primary is unreachable too, backup_isolated speaks instead" {
  facts "0m" {
    peer "partner" {
      error = "network is unreachable"
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

test "the primary has no test IPs to reach" {
  facts "0m" {
    node = { role = "primary" }
    peer "partner" {}
    check "test_ip_0" {
      error = "no reply"
    }
    check "test_ip_1" {
      error = "no reply"
    }
  }
  expect "1h" {}
}
