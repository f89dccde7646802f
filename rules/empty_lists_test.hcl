# Issue 13, finding 5: test_ips = [] and shared_ips = [] behave like the
# lists left unset: no rule about test IPs or shared IPs, and a backup
# that cannot check the primary is not "isolated".
config = ["testdata/backup_empty_lists.hcl"]

test "a primary down, with no test IP" {
  facts "0m" {
    node = { role = "backup" }
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      mtime = "2026-01-01T00:00:00Z"
    }
    peer "partner" {
      error   = "connection refused"
      version = "7.1"
    }
  }
  expect "1m" {
    fire = ["startup"]
  }
  expect "2m" {
    fire = ["primary_unchecked_manual"]
  }
  expect "5m" {
    resolve = ["startup"] # silently, five minutes after the start
  }
  expect "1h" {}
}
