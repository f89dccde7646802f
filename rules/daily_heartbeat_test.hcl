# daily_heartbeat: every day at 08:00 (heartbeat in testdata/backup.hcl),
# with a summary of the node's status.
config = ["testdata/backup.hcl"]
rules  = ["daily_heartbeat"]

test "fires at the first 08:00, repeats every day, resolves silently when the agent stops" {
  start = "2026-11-23T07:00:00Z"
  stop  = "2d2h"
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    check "self" {}
    check "sync" {
      mtime = at("-2h")
    }
    check "test_ip_0" {}
    check "test_ip_1" {
      error = "no reply from 198.51.100.1 (3 sent)"
    }
    peer "partner" {
      role    = "primary"
      version = "7.1"
    }
  }
  expect "59m" {}
  expect "1h" {
    fire    = ["daily_heartbeat"]
    subject = { daily_heartbeat = "appliance-b: daily notice: Tocsin is running" }
    text    = { daily_heartbeat = "  test_ip_1: FAILED: no reply from 198.51.100.1 (3 sent)\n" }
  }
  expect "1d" {}
  expect "1d1h" {
    repeat = ["daily_heartbeat"]
    text   = { daily_heartbeat = "  partner:  http://192.0.2.1:9870: primary, version 7.1\n" }
  }
  expect "2d1h" {
    repeat = ["daily_heartbeat"]
    text   = { daily_heartbeat = "  node:     appliance-b, backup, version 7.1\n" }
  }
  # The agent's last evaluation: it resolves, and no mail goes out.
  expect "2d2h" {
    resolve = ["daily_heartbeat"]
  }
}

test "the summary says when the partner is down" {
  start = "2026-11-23T07:00:00Z"
  facts "0m" {
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "1h" {
    fire = ["daily_heartbeat"]
    text = { daily_heartbeat = "partner:  http://192.0.2.1:9870: NOT REACHABLE: connection refused" }
  }
}

test "the notice says how often it comes" {
  start = "2026-11-23T07:00:00Z"
  facts "0m" {
    peer "partner" {
      role = "primary"
    }
  }
  expect "1h" {
    fire = ["daily_heartbeat"]
    text = { daily_heartbeat = "This notice comes every day at 08:00; if it stops coming" }
  }
}

# Right after a start, the partner may not have been observed yet (its
# first check still running): the notice still renders in full.
test "the summary renders before the partner was ever observed" {
  start = "2026-11-23T07:00:00Z"
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "1h" {
    fire = ["daily_heartbeat"]
    text = { daily_heartbeat = "partner:  http://192.0.2.1:9870: NOT REACHABLE: not observed yet" }
  }
}

# The notice lists the silences in force (tocsin silence), and says none
# when there is none.
test "the summary lists the silences in force" {
  start = "2026-11-23T07:00:00Z"
  facts "0m" {
    peer "partner" {
      role = "primary"
    }
  }
  facts "1d" {
    silences = [
      { target = "rule takeover", until = "2026-11-24T10:00:00Z", by = "alice", comment = "firmware update" },
      { target = "all rules", until = "2026-11-24T09:00:00Z", by = "bob", comment = "move to rack 4" },
    ]
  }
  expect "1h" {
    fire = ["daily_heartbeat"]
    text = { daily_heartbeat = "  silences: none\n" }
  }
  expect "1d1h" {
    repeat = ["daily_heartbeat"]
    text   = { daily_heartbeat = "  silences: rule takeover until 2026-11-24T10:00:00Z (alice: firmware update); all rules until 2026-11-24T09:00:00Z (bob: move to rack 4)\n" }
  }
}
