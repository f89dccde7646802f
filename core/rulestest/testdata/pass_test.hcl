config = ["config.hcl"]

test "version mismatch fires 10m after the first tick, repeats daily, resolves" {
  start = "2026-11-23T08:00:00Z"
  rules = ["version_mismatch"]

  facts "0m" {
    check "product" {
      stdout = "7.1\n"
    }
    peer "partner" {
      version = "7.2"
    }
  }
  facts "1d1h" {
    peer "partner" {
      version = "7.1"
    }
    # No rule here reads the outbox; giving it changes nothing.
    outbox = {
      pending    = 1
      oldest_age = "2m"
      failing    = { test = { failures = 2, failing_for = "90s", last_error = "temporary error 421" } }
    }
  }

  expect "10m" {}
  expect "15m" {
    fire    = ["version_mismatch"]
    subject = { version_mismatch = "7.1 here, 7.2 on the partner" }
  }
  expect "1d15m" {
    repeat = ["version_mismatch"]
  }
  expect "1d2h" {
    resolve = ["version_mismatch"]
    subject = { version_mismatch = "Resolved: " }
  }
}

test "node facts given directly override the node block" {
  rules = ["version_mismatch"]
  facts "0m" {
    node = { version = "7.2" }
    peer "partner" {
      version = "7.2"
    }
  }
  expect "1h" {}
}

test "an unreachable partner is no mismatch" {
  rules = ["version_mismatch"]
  facts "0m" {
    node = { version = "7.1" }
    peer "partner" {
      ok      = false
      error   = "connection refused"
      version = "7.2"
    }
  }
  expect "1h" {}
}

test "sync stale with its log attached; at() gives times" {
  rules = ["sync_stale"]
  facts "0m" {
    check "sync" {
      mtime = at("-23h")
    }
  }
  expect "59m" {}
  expect "1h1m" {
    fire   = ["sync_stale"]
    text   = {}
    attach = { sync_stale = ["/var/log/product/sync.log"] }
  }
  expect "13h1m" {
    repeat = ["sync_stale"]
  }
}

test "a rule reading a fact not given yet errors" {
  rules = ["sync_stale"]
  expect "1m" {
    error = ["sync_stale"]
  }
}

test "the stopping round" {
  rules = ["goodbye"]
  stop  = "1h"
  facts "0m" {
    node = { role = "backup" }
  }
  expect "59m" {}
  expect "1h" {
    fire    = ["goodbye"]
    subject = { goodbye = "backup stops" }
  }
}
