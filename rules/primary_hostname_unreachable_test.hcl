# primary_hostname_unreachable: the backup reaches the primary at its
# peer_url but not by its host name (check primary_hostname: a TCP
# connection to appliance-a.example.com:9870 in testdata/backup.hcl).
config = ["testdata/backup.hcl"]
rules  = ["primary_hostname_unreachable"]

test "fires after 5m, repeats daily, resolves" {
  facts "0m" {
    peer "partner" {}
    check "primary_hostname" {
      address = "appliance-a.example.com:9870"
      error   = "dial tcp: lookup appliance-a.example.com: no such host"
    }
  }
  facts "1d1h" {
    check "primary_hostname" {}
  }
  expect "5m" {}
  expect "6m" {
    fire    = ["primary_hostname_unreachable"]
    subject = { primary_hostname_unreachable = "appliance-b: the primary is unreachable by its host name appliance-a.example.com" }
    text    = { primary_hostname_unreachable = "no such host" }
  }
  expect "1d6m" {
    repeat = ["primary_hostname_unreachable"]
  }
  expect "1d1h" {
    resolve = ["primary_hostname_unreachable"]
  }
}

test "a primary that is down altogether is primary_unchecked's" {
  facts "0m" {
    peer "partner" {
      error = "timeout"
    }
    check "primary_hostname" {
      error = "timeout"
    }
  }
  expect "1h" {}
}
