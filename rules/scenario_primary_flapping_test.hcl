# Scenario (issue 13, flapping): the primary goes down for 2 minutes and
# comes back for 1, again and again, for an hour (a failing NIC, a
# reboot loop); the backup's view over two days with every rule
# (testdata/backup.hcl, automatic failover off). Without flap detection
# primary_unchecked_manual fired and resolved every 3 minutes: 40 mails in
# the hour. With it the operator gets the first fire, resolve and fire,
# then one "Flapping" mail, and nothing more until the primary has kept
# still for 30 minutes; then the alert's end when it stays up (5 mails in
# two days), or the alert again and every 4 hours when it stays down,
# with sync_stale (18 mails in two days). Startup and the daily
# heartbeats come as always and are not counted.
config = ["testdata/backup.hcl"]


test "the primary flaps for an hour, then stays up: 5 mails in two days" {
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
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h2m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h3m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h5m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h6m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h8m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h9m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h11m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h12m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h14m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h15m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h17m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h18m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h20m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h21m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h23m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h24m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h26m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h27m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h29m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h30m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h32m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h33m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h35m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h36m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h38m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h39m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h41m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h42m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h44m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h45m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h47m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h48m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h50m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h51m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h53m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h54m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h56m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h57m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h59m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
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
    fire = ["primary_unchecked_manual"]
  }
  expect "1h2m" {
    resolve = ["primary_unchecked_manual"]
  }
  expect "1h4m" {
    fire = ["primary_unchecked_manual"]
  }
  # The fourth change within the hour: one mail, then quiet.
  expect "1h5m" {
    flapping = ["primary_unchecked_manual"]
    subject  = { primary_unchecked_manual = "Flapping: appliance-b: the backup cannot check the primary" }
    text     = { primary_unchecked_manual = "it is flapping. Nothing more is sent about it until it has neither fired nor resolved for 30 minutes" }
  }
  # Up for good at 1h59m; 30 minutes later the alert's end.
  expect "2h28m" {}
  expect "2h29m" {
    resolve = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "Resolved: appliance-b: the backup cannot check the primary" }
  }
  # Then only the heartbeats: the backup checks the primary, which
  # reports its sync, so sync_stale is the primary's to send.
  expect "2d" {
    fire   = ["daily_heartbeat"]
    repeat = ["daily_heartbeat"]
  }
}

test "the primary flaps for an hour, then stays down: 18 mails in two days" {
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
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h2m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h3m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h5m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h6m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h8m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h9m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h11m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h12m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h14m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h15m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h17m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h18m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h20m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h21m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h23m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h24m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h26m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h27m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h29m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h30m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h32m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h33m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h35m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h36m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h38m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h39m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h41m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h42m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h44m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h45m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h47m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h48m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h50m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h51m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h53m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h54m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
    }
  }
  facts "1h56m" {
    peer "partner" {
      role      = "primary"
      version   = "7.1"
      last_sync = at("-1h")
    }
  }
  facts "1h57m" {
    peer "partner" {
      error = "dial tcp 192.0.2.1:9870: connect: connection refused"
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
    fire = ["primary_unchecked_manual"]
  }
  expect "1h2m" {
    resolve = ["primary_unchecked_manual"]
  }
  expect "1h4m" {
    fire = ["primary_unchecked_manual"]
  }
  # The fourth change within the hour: one mail, then quiet.
  expect "1h5m" {
    flapping = ["primary_unchecked_manual"]
    subject  = { primary_unchecked_manual = "Flapping: appliance-b: the backup cannot check the primary" }
    text     = { primary_unchecked_manual = "it is flapping. Nothing more is sent about it until it has neither fired nor resolved for 30 minutes" }
  }
  # Down for good since 1h57m, the last change at 1h58m (pending for
  # 1m, firing at the tick after); 30 minutes later the alert again, and every
  # 4 hours while it lasts.
  expect "2h27m" {}
  expect "2h28m" {
    fire    = ["primary_unchecked_manual"]
    subject = { primary_unchecked_manual = "appliance-b: the backup cannot check the primary (automatic failover is off)" }
  }
  # Every 4 hours from 6h28m (11), and sync_stale from the backup, which
  # cannot check the primary, 24 hours after the last sync and daily (2).
  expect "2d" {
    repeat = [
      "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual",
      "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual",
      "primary_unchecked_manual", "primary_unchecked_manual", "primary_unchecked_manual",
      "daily_heartbeat", "sync_stale",
    ]
    fire = ["daily_heartbeat", "sync_stale"]
  }
}
