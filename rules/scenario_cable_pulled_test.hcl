# Scenario (issue 13): the backup's network cable is pulled for two
# hours. The backup's view (testdata/backup.hcl;
# scenario_cable_pulled_primary_test.hcl has the primary's). What the
# operator receives from the backup, and why (the mails queue in its
# outbox while it is cut off, and go out when the cable is back):
# - backup_isolated a minute after the cable is pulled: the backup
#   reaches neither the primary nor a test IP, so it cannot tell whether
#   the primary is down and will not take over; and its Resolved when
#   the cable is back. Nothing about the primary: an isolated backup
#   cannot know.
config = ["testdata/backup.hcl"]

test "cable pulled for two hours: the backup says it was isolated" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h" {
    check "test_ip_0" {
      error = "no reply from 192.0.2.254 (3 sent)"
    }
    check "test_ip_1" {
      error = "no reply from 198.51.100.1 (3 sent)"
    }
    check "primary_hostname" {
      error = "lookup appliance-a.example.com: no such host"
    }
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: network is unreachable"
    }
  }
  facts "3h" {
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("3h")
    }
  }
  expect "1m" {
    fire = ["startup"]
  }
  expect "5m" {
    resolve = ["startup"]
    silent  = ["startup"]
  }
  expect "1h1m" {
    fire    = ["backup_isolated"]
    subject = { backup_isolated = "appliance-b: the backup is isolated" }
  }
  expect "3h" {
    resolve = ["backup_isolated"]
  }
  expect "8h" {
    fire = ["daily_heartbeat"]
  }
  expect "1d8h" {
    repeat = ["daily_heartbeat"]
  }
  expect "2d" {}
}
