# backup_self_check_failed: the backup could not check itself (the check
# self: the agent's own /healthz in testdata/backup.hcl).
config = ["testdata/backup.hcl"]
rules  = ["backup_self_check_failed"]

test "fires after 2m, repeats every 4h, resolves" {
  facts "0m" {
    check "self" {
      error = "GET http://127.0.0.1:9870/healthz: status 503 Service Unavailable"
    }
  }
  facts "5h" {
    check "self" {}
  }
  expect "2m" {}
  expect "3m" {
    fire    = ["backup_self_check_failed"]
    subject = { backup_self_check_failed = "appliance-b: the backup could not check itself" }
    text    = { backup_self_check_failed = "status 503 Service Unavailable" }
  }
  expect "4h3m" {
    repeat = ["backup_self_check_failed"]
  }
  expect "5h" {
    resolve = ["backup_self_check_failed"]
  }
}

test "the primary does not report it" {
  facts "0m" {
    node = { role = "primary" }
    check "self" {
      error = "boom"
    }
  }
  expect "1h" {}
}
