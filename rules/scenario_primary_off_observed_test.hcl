# Scenario (issue 13): the primary is powered off at 1h and stays off for
# two days; automatic failover is on and the backup's role is read from
# the product (testdata/backup_observed.hcl), which takes over 5 minutes
# later. The backup's view: it sees the takeover happen. 16 mails in two
# days:
# - primary_unchecked_auto once ("will take over if this lasts"), ending
#   without a mail when the role turns (the old primary is still down);
# - role_became_primary 2 minutes after the product took over (the role
#   read the same for 2 minutes), with the old primary's error: once;
# - backup_lost from the new primary 10 minutes later and every 4 hours
#   (12): the pair now runs on one node, and nothing takes over if it
#   fails too, until the old primary is back as the backup;
# - sync_stale 24 hours after the last sync, then daily (2): this node
#   is the primary now, and its data is as old as the last sync.
config = ["testdata/backup_observed.hcl"]

test "primary powered off, the product takes over" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    check "shared_ip_0" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
    }
  }
  facts "1h5m" {
    check "product" {
      json = { role = "primary", version = "7.1", backup_ops = true }
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
    fire = ["primary_unchecked_auto"]
  }
  expect "1h5m" {
    resolve = ["primary_unchecked_auto"]
    silent  = ["primary_unchecked_auto"]
  }
  expect "1h7m" {
    fire    = ["role_became_primary"]
    subject = { role_became_primary = "appliance-b: the backup took over and is the primary now" }
    text    = { role_became_primary = "dial tcp 192.0.2.1:9870: connect: no route to host" }
  }
  expect "1h15m" {
    fire = ["backup_lost"]
  }
  expect "23h6m" {
    repeat = ["backup_lost", "backup_lost", "backup_lost", "backup_lost", "backup_lost"]
    fire   = ["daily_heartbeat", "sync_stale"]
  }
  expect "2d" {
    repeat = [
      "backup_lost", "backup_lost", "backup_lost", "backup_lost", "backup_lost", "backup_lost",
      "daily_heartbeat", "sync_stale",
    ]
  }
}

# The same outage, but the product never takes over (its failover is
# broken, or set otherwise than auto_failover says): the role stays
# backup. Without takeover_overdue the operator got primary_unchecked_auto
# ("will take over if this lasts") and then nothing about the outage for
# two days. 15 mails:
# - primary_unchecked_auto once, a minute after;
# - takeover_overdue when the primary has been silent for takeover_after
#   and 5 minutes more (10m), then every 4 hours (12): the takeover that
#   was announced has not happened, the service is down, and only the
#   operator can fail over now;
# - sync_stale 24 hours after the last sync, then daily (2).
test "primary powered off, the product never takes over" {
  facts "0m" {
    check "product" {
      json = { role = "backup", version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      exists = true
      mtime  = at("-1h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {}
    check "primary_hostname" {}
    check "shared_ip_0" {}
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: no route to host"
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
    fire = ["primary_unchecked_auto"]
  }
  expect "1h9m" {}
  expect "1h10m" {
    fire    = ["takeover_overdue"]
    subject = { takeover_overdue = "appliance-b: no takeover: the primary has been silent for 10 minutes and automatic failover is on, but this node is still the backup" }
    text    = { takeover_overdue = "dial tcp 192.0.2.1:9870: connect: no route to host" }
  }
  expect "5h10m" {
    repeat  = ["takeover_overdue"]
    subject = { takeover_overdue = "silent for 4 hours" }
  }
  expect "23h6m" {
    repeat = ["takeover_overdue", "takeover_overdue", "takeover_overdue", "takeover_overdue"]
    fire   = ["daily_heartbeat", "sync_stale"]
  }
  expect "2d" {
    repeat = [
      "takeover_overdue", "takeover_overdue", "takeover_overdue",
      "takeover_overdue", "takeover_overdue", "takeover_overdue",
      "daily_heartbeat", "sync_stale",
    ]
    subject = { takeover_overdue = "hours and automatic failover is on, but this node is still the backup" }
  }
}
