config = ["config.hcl"]
rules  = ["version_mismatch"]

test "passes" {
  facts "0m" {
    node = { version = "7.1" }
    peer "partner" {
      version = "7.1"
    }
  }
  expect "1h" {}
}

test "wrong expectations" {
  start = "2026-11-23T08:00:00Z"
  facts "0m" {
    node = { version = "7.1" }
    peer "partner" {
      version = "7.2"
    }
  }
  expect "5m" {
    fire = ["version_mismatch"]
  }
  expect "15m" {
    subject = { version_mismatch = "7.3" }
  }
  expect "1d" {
    resolve = ["version_mismatch"]
  }
}
