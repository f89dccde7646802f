// Package rulestest runs unit tests for rules, the way `promtool test
// rules` does for Prometheus: a test file gives a timeline of facts and
// the notifications expected along it, and the rules of a configuration
// are evaluated over that timeline with the agent's own evaluator
// (rules.Evaluate), a clock that follows the timeline, and no plugin,
// check or network involved. `tocsin rules test FILE...` is its command.
//
// # Test files
//
// A test file is HCL:
//
//	config = ["testdata/backup.hcl"]    # required: files or directories, relative to this file
//	rules  = ["version_mismatch"]       # optional: the rules to evaluate (default: all of them)
//
//	test "version mismatch fires after 10m, repeats daily, resolves" {
//	  start = "2026-11-23T08:00:00Z"    # optional; default 2026-01-01T00:00:00Z
//	  stop  = "3d"                      # optional: the agent stops at this offset
//	  rules = ["version_mismatch"]      # optional: overrides the file's list
//
//	  facts "0m" {                      # the facts from this offset on
//	    node = { version = "7.1" }      # node facts, overriding the config's node expressions
//	    peer "partner" {
//	      ok      = true
//	      version = "7.2"
//	    }
//	    check "sync" {
//	      mtime = at("-2h")             # at(OFFSET): the time at OFFSET from start, RFC 3339
//	    }
//	  }
//	  facts "30m" {                     # later blocks replace the entries they name
//	    peer "partner" {
//	      version = "7.1"
//	    }
//	  }
//
//	  expect "15m" {                    # the events in (previous expect, 15m]
//	    fire    = ["version_mismatch"]
//	    subject = { version_mismatch = "7.2" }   # substrings of the notification's subject
//	  }
//	  expect "45m" { resolve = ["version_mismatch"] }
//	}
//
// The configuration is loaded with config.LoadPaths: its rules, node
// block, checks, peers, contacts and library blocks are used. Transports
// are never started: a test configuration may declare one with any
// plugin name (plugin = "none") for its contacts to name.
//
// # Offsets
//
// Block labels and stop are offsets from start: durations such as "90s",
// "15m", "24h", "1d12h" (rules.ParseDuration). They may not be negative.
// Within a test, facts blocks and expect blocks each have distinct
// offsets; their order in the file does not matter.
//
// # Facts
//
// A facts block applies from its offset until a later block replaces what
// it gives. Each check or peer block replaces that whole fact; node gives
// node facts by name and replaces only the names it gives. A check or peer
// must be declared in the configuration (its kind says which values it
// has; see package facts). Its attributes are the fact's: ok (bool), error
// (string), latency (number of seconds), observed (RFC 3339) and the
// kind's values, such as version for a peer or up for an interface.
// What is left out is filled in: ok is true unless error is set, error is
// "failed" when ok is false, latency is 0, observed is the time of the
// evaluation, a peer's reachable is ok, and every other value is null. A
// check or peer that no facts block has given yet does not exist, as in
// an agent whose checks have not run: rules that read it fail with an
// error, which the test must expect (error = [...]) or avoid.
//
// Node facts come from the configuration's node expressions (and a
// library block's), evaluated over the current checks and peers as the
// agent does (rules.Vars.EvalNode); the names that node = {...} gives override
// them. An expression that fails leaves its name null.
//
// outbox = {...} gives the outbox fact (rules.OutboxType) and replaces
// the whole of it: pending and dead (counts), oldest_age and failing_for
// (durations: "20m", or a number of seconds), and failing, which maps a
// transport to its failure streak { failures, failing_for, last_error },
// and store_error, store_failures and store_failing_for, the notifications
// that could not be stored (a full disk; store_failing_for grows with the
// timeline while store_error is given), and tests, which maps a transport
// with test_to to its test mail { ok, state, error, at, reason, attempts }
// (state "passed", "pending" or "failed"; left out it is "failed" when
// error is given or ok is false, else "passed"; error is "failed" and
// attempts 1 for a failed one; at is RFC 3339, such as at("0m")).
// What is left out is zero, but a streak's failures (1), last_error
// ("failed") and failing_for (the outbox's failing_for, else 0), and
// store_failures (1 when store_error is given); the
// outbox's failing_for is the longest streak's, and giving a different
// one is an error, as is an oldest_age without pending. The durations
// are as at the block's offset and grow with the timeline (oldest_age
// while something is pending), as in an agent where nothing else
// happens, until a later block gives outbox again: outbox = {} is a
// healthy, empty outbox. Until a block gives it the outbox is empty.
//
//	facts "0m" {
//	  outbox = {
//	    pending = 3
//	    failing = { relay = { failures = 2, last_error = "permanent error 535" } }
//	  }
//	}
//
// credential = {...} gives the variable credential (rules.CredentialType)
// and replaces the whole of it: a map of transport names to { expires,
// source, what, obtained_at, refreshed_at }, the times as YYYY-MM-DD or
// RFC 3339, source one of "certificate", "client_secret_expires",
// "login" and "plugin". days_left is not given: it follows from expires
// and the time of each evaluation, as in the agent. Until a block gives
// it no credential is known.
//
//	facts "0m" {
//	  credential = {
//	    relay = { expires = "2026-02-01", source = "certificate", what = "client certificate" }
//	  }
//	}
//
// Test files may call at(OFFSET), which returns the time at OFFSET from
// start as an RFC 3339 string (at("-25h") is a day and an hour before
// start).
//
// # Evaluation
//
// Evaluations follow the agent's run loop:
//
//   - Each rule is evaluated at the ticks of its own schedule
//     (rules.ParseSchedule(...).Next from start, so "@every 1m" first
//     ticks at 1m and "*/5 * * * *" at the next multiple of five
//     minutes; schedules without a CRON_TZ prefix run in UTC), in time
//     order across rules; rules due at the same time are evaluated in
//     configuration order.
//   - If stop is set, every rule is evaluated once more at stop with
//     agent.stopping true, as the agent does when it stops, and the
//     timeline ends there. Otherwise it ends at the last expect.
//
// Rules see the variables node, check, peer, agent (node: the agent
// block's node; version; started: the start time in RFC 3339; stopping)
// and outbox, and rules.Functions with a clock at the evaluation time. Rule state
// starts empty in every test.
//
// # Expectations
//
// An expect block lists the events of the window that ends at its offset
// and starts after the previous expect's offset (the first one starts at
// start, inclusive). fire, repeat and resolve list the rules that emitted
// that event in the window, error the rules whose evaluation started
// to fail (rules.EventErrorStarted), and flapping the rules that began to
// flap (rules.EventFlapStart, its "Flapping" notification). Each list must match exactly, as a
// multiset: a list left out means no such event. subject and text map a
// rule to a substring that every notification of the rule in the window
// must contain, and attach maps a rule to the exact list of files its
// notifications attach; a rule named there must have sent a notification
// in the window.
//
// A test fails when an expectation does not hold; each difference is
// reported at its expect block's file:line:col as, for example,
//
//	at 15m: want fire [version_mismatch], got none
//
// A malformed test file, or a configuration with errors, is reported as
// HCL diagnostics with file:line:col and runs no test.
package rulestest
