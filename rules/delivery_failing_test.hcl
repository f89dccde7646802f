# delivery_failing: a transport has failed every attempt for
# delivery_alert_after (15m in testdata/backup.hcl): ops_fallback is told.
# The outbox's ages grow with the timeline from the facts block that gives
# them, as in the agent.
config = ["testdata/backup.hcl"]
rules  = ["delivery_failing"]

test "fires after delivery_alert_after, repeats hourly, resolves when the transport sends again" {
  facts "0m" {
    outbox = {
      pending    = 3
      oldest_age = "2m"
      failing = {
        test = { failures = 2, last_error = "permanent error 535: 5.7.8 authentication failed" }
      }
    }
  }
  facts "2h" {
    outbox = {}
  }
  expect "14m" {}
  expect "15m" {
    fire    = ["delivery_failing"]
    subject = { delivery_failing = "appliance-b: notifications through test have failed for 15m: permanent error 535: 5.7.8 authentication failed" }
    text    = { delivery_failing = "  test: failing for 15m (2 failed attempts); last error: permanent error 535: 5.7.8 authentication failed" }
  }
  expect "1h14m" {}
  expect "1h15m" {
    repeat  = ["delivery_failing"]
    subject = { delivery_failing = "have failed for 1h15m" }
    text    = { delivery_failing = "Pending notifications: 3 (the oldest waiting for 1h17m)." }
  }
  expect "2h" {
    resolve = ["delivery_failing"]
    subject = { delivery_failing = "Resolved: appliance-b: notifications go through again" }
    text    = { delivery_failing = "sends notifications again" }
  }
  expect "5h" {}
}

test "a shorter streak stays silent" {
  facts "0m" {
    outbox = {
      failing = {
        test = { last_error = "temporary error 421: try again later" }
      }
    }
  }
  facts "14m" {
    outbox = {}
  }
  expect "2h" {}
}

test "a streak older than the start fires at the first evaluation and counts the dead letters" {
  facts "0m" {
    outbox = {
      pending     = 1
      dead        = 2
      oldest_age  = "25m"
      failing_for = "20m"
      failing = {
        test = { failures = 7, last_error = "temporary error: dial tcp 192.0.2.25:587: connection refused" }
      }
    }
  }
  expect "1m" {
    fire = ["delivery_failing"]
    text = { delivery_failing = "Pending notifications: 1 (the oldest waiting for 26m).\nDead letters: 2: notifications that failed on every\ntransport of their contact." }
  }
  expect "2m" {}
}

test "with two transports failing, the subject names both and the longest streak's error" {
  facts "0m" {
    outbox = {
      failing = {
        test     = { failing_for = "20m", failures = 9, last_error = "permanent error 535: 5.7.8 authentication failed" }
        fallback = { failing_for = "5m", last_error = "temporary error 429: too many requests" }
      }
    }
  }
  expect "1m" {
    fire    = ["delivery_failing"]
    subject = { delivery_failing = "notifications through fallback, test have failed for 21m: permanent error 535" }
    text    = { delivery_failing = "  fallback: failing for 6m (1 failed attempt); last error: temporary error 429: too many requests\n  test: failing for 21m (9 failed attempts); last error: permanent error 535" }
  }
}
