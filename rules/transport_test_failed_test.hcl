# transport_test_failed: a transport's test mail failed: ops_fallback is
# told, through the other transport (testdata/backup.hcl).
config = ["testdata/backup.hcl"]
rules  = ["transport_test_failed"]

test "fires when a test mail fails, repeats, resolves when one passes" {
  facts "0m" {
    outbox = {
      tests = {
        test = { state = "failed", error = "permanent error 535: 5.7.8 authentication failed. Check the username and password.", reason = "settings changed", at = at("0m") }
      }
    }
  }
  facts "5h" {
    outbox = {
      tests = {
        test = { state = "passed", reason = "settings changed", at = at("5h") }
      }
    }
  }
  expect "1m" {
    fire    = ["transport_test_failed"]
    subject = { transport_test_failed = "appliance-b: the test mail through test failed: permanent error 535: 5.7.8 authentication failed" }
    text    = { transport_test_failed = "  test (settings changed): 1 failed attempt, the last at 2026-" }
  }
  expect "4h" {}
  expect "4h1m" {
    repeat = ["transport_test_failed"]
  }
  expect "5h" {
    resolve = ["transport_test_failed"]
    subject = { transport_test_failed = "Resolved: appliance-b: test mails go through again" }
    text    = { transport_test_failed = "has delivered the test mails of its transports" }
  }
}

test "a test mail on its way, or one that passed, is silent" {
  facts "0m" {
    outbox = {
      tests = {
        test     = { state = "pending", reason = "first test" }
        fallback = { ok = true }
      }
    }
  }
  expect "1h" {}
}

test "two failing transports are both named" {
  facts "0m" {
    outbox = {
      tests = {
        test     = { error = "temporary error: dial tcp 192.0.2.25:587: connection refused", attempts = 3, reason = "first test" }
        fallback = { error = "permanent error 550: 5.7.1 sender not allowed", reason = "settings changed" }
      }
    }
  }
  expect "1m" {
    fire    = ["transport_test_failed"]
    subject = { transport_test_failed = "the test mail through fallback, test failed: permanent error 550" }
    text    = { transport_test_failed = "  fallback (settings changed): 1 failed attempt: permanent error 550: 5.7.1 sender not allowed\n  test (first test): 3 failed attempts" }
  }
}
