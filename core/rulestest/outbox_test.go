package rulestest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// outboxConfig has rules that read the outbox fact.
const outboxConfig = `
transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test]
}
rule "channel" {
  when    = outbox.failing_for >= duration("10m")
  notify  = [contact.ops]
  subject = "${join(",", keys(outbox.failing))}: ${outbox.failing_for}s, relay ${try(outbox.failing.relay.failures, 0)}x ${try(outbox.failing.relay.last_error, "")}"
}
rule "queue" {
  when    = outbox.oldest_age > duration("30m") || outbox.dead > 0
  notify  = [contact.ops]
  subject = "${outbox.pending} pending for ${outbox.oldest_age}s, ${outbox.dead} dead"
}
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRunFile_Outbox: rules see an empty outbox until a facts block gives
// one; its ages grow along the timeline from that block's offset; a later
// block replaces it whole.
func TestRunFile_Outbox(t *testing.T) {
	dir := writeFiles(t, map[string]string{"config.hcl": outboxConfig, "t_test.hcl": `
config = ["config.hcl"]

test "outbox" {
  facts "1h" {
    outbox = {
      pending    = 4
      oldest_age = "25m"
      failing = {
        relay = { failures = 3, last_error = "permanent error 535" }
        graph = { failing_for = 120 }
      }
    }
  }
  facts "2h" {
    outbox = { dead = 1 }
  }
  facts "3h" {
    outbox = {}
  }
  expect "1h" {}
  expect "1h6m" {
    fire    = ["queue"]
    subject = { queue = "4 pending for 1860s, 0 dead" }
  }
  expect "1h10m" {
    fire    = ["channel"]
    subject = { channel = "graph,relay: 600s, relay 3x permanent error 535" }
  }
  expect "2h" {
    resolve = ["channel"]
  }
  expect "3h" {
    resolve = ["queue"]
  }
}
`})
	res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
	if !res.Passed() {
		var b bytes.Buffer
		_ = res.WriteDiagnostics(&b)
		_ = res.WriteReport(&b, true)
		t.Fatalf("fails:\n%s", b.String())
	}
	var got []string
	for _, e := range res.Tests[0].Events {
		got = append(got, fmt.Sprintf("%s %s %s", FormatOffset(e.Offset), e.Event, e.Rule))
	}
	// queue: 25m old at 1h, over 30m at 1h6m; resolves at 3h (dead = 1
	// holds it from 2h). channel: graph failing 2m at 1h, 10m at 1h8m;
	// the longest streak is graph's, so relay's 3 failures fire at 1h8m.
	want := []string{"1h6m fire queue", "1h8m fire channel", "2h resolve channel", "3h resolve queue"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunFile_OutboxErrors: malformed outbox values are reported at the
// value, and no test runs.
func TestRunFile_OutboxErrors(t *testing.T) {
	tests := []struct {
		name   string
		outbox string
		want   string
	}{
		{name: "not an object", outbox: `"broken"`, want: "outbox is an object"},
		{name: "unknown value", outbox: `{ pendng = 1 }`, want: `outbox has no value named "pendng" (did you mean "pending"?)`},
		{name: "unknown streak value", outbox: `{ failing = { relay = { error = "x" } } }`, want: `outbox.failing.relay has no value named "error"`},
		{name: "negative count", outbox: `{ dead = -1 }`, want: "outbox: dead must be a whole number that is not negative"},
		{name: "fractional count", outbox: `{ pending = 1.5 }`, want: "outbox: pending must be a whole number"},
		{name: "bad duration", outbox: `{ pending = 1, oldest_age = "old" }`, want: "outbox: oldest_age: duration:"},
		{name: "negative duration", outbox: `{ pending = 1, oldest_age = -5 }`, want: "oldest_age must not be negative"},
		{name: "duration of the wrong type", outbox: `{ pending = 1, oldest_age = true }`, want: "oldest_age is a duration"},
		{name: "oldest_age without pending", outbox: `{ oldest_age = "5m" }`, want: "give pending too"},
		{name: "failing_for without failing", outbox: `{ failing_for = "5m" }`, want: "name the failing transports in failing"},
		{name: "failing_for shorter than a streak", outbox: `{ failing_for = "5m", failing = { relay = { failing_for = "6m" } } }`, want: "failing_for is 5m, but the longest streak in failing is 6m"},
		{name: "no failures", outbox: `{ failing = { relay = { failures = 0 } } }`, want: "it is at least 1"},
		{name: "failing not a map", outbox: `{ failing = ["relay"] }`, want: "failing maps a transport to its failure streak"},
		{name: "streak not an object", outbox: `{ failing = { relay = 3 } }`, want: "outbox.failing.relay: a streak is an object"},
		{name: "last_error not a string", outbox: `{ failing = { relay = { last_error = ["x"] } } }`, want: "last_error must be a string"},
		{name: "tests not a map", outbox: `{ tests = ["relay"] }`, want: "tests maps a transport to its test mail"},
		{name: "test not an object", outbox: `{ tests = { relay = "failed" } }`, want: "outbox.tests.relay: a test mail is an object"},
		{name: "unknown test value", outbox: `{ tests = { relay = { last_error = "x" } } }`, want: `outbox.tests.relay has no value named "last_error"`},
		{name: "unknown test state", outbox: `{ tests = { relay = { state = "ok" } } }`, want: `state is "passed", "pending" or "failed", not "ok"`},
		{name: "ok against the state", outbox: `{ tests = { relay = { state = "failed", ok = true } } }`, want: `ok is true exactly when state is "passed"`},
		{name: "at not a time", outbox: `{ tests = { relay = { at = "yesterday" } } }`, want: "at is a time in RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "config = [\"config.hcl\"]\ntest \"x\" {\n  facts \"0m\" {\n    outbox = " + tt.outbox + "\n  }\n  expect \"1m\" {}\n}\n"
			dir := writeFiles(t, map[string]string{"config.hcl": outboxConfig, "t_test.hcl": src})
			res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
			if res.Passed() || len(res.Tests) != 0 {
				t.Fatalf("passed = %v, tests = %d; want errors and no test run", res.Passed(), len(res.Tests))
			}
			var got []string
			for _, d := range res.Diagnostics {
				got = append(got, fmt.Sprintf("%d:%d: %s: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail))
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], "4:14: Invalid outbox fact: ") || !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("diagnostics:\n%s\nwant one at 4:14 with %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

func TestBindOutbox(t *testing.T) {
	tests := []struct {
		name   string
		outbox string
		want   rules.OutboxFact
	}{
		{name: "empty", outbox: `{}`},
		{name: "counts and an age", outbox: `{ pending = 3, dead = 1, oldest_age = "1h30m" }`,
			want: rules.OutboxFact{Pending: 3, Dead: 1, OldestAge: 90 * time.Minute}},
		{name: "a streak: one failure, failed, from now", outbox: `{ failing = { relay = {} } }`,
			want: rules.OutboxFact{Failing: map[string]rules.TransportStreak{"relay": {Failures: 1, LastError: "failed"}}}},
		{name: "failing_for is the default of each streak", outbox: `{ failing_for = "20m", failing = { relay = { failures = 4, last_error = "535" }, graph = { failing_for = 60 } } }`,
			want: rules.OutboxFact{Failing: map[string]rules.TransportStreak{
				"relay": {Failures: 4, FailingFor: 20 * time.Minute, LastError: "535"},
				"graph": {Failures: 1, FailingFor: time.Minute, LastError: "failed"},
			}}},
		{name: "null is left out", outbox: `{ pending = null, failing = null }`},
		{name: "tests: error fails, ok passes, a state is kept", outbox: `{ tests = { relay = { error = "535", reason = "settings changed", at = "2026-12-05T08:00:00Z" }, graph = { ok = true }, gmail = { state = "pending" }, smtp = { ok = false, attempts = 3 } } }`,
			want: rules.OutboxFact{Tests: map[string]rules.TransportTest{
				"relay": {State: rules.TestFailed, Error: "535", Reason: "settings changed", At: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), Attempts: 1},
				"graph": {State: rules.TestPassed},
				"gmail": {State: rules.TestPending},
				"smtp":  {State: rules.TestFailed, Error: "failed", Attempts: 3},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expr, diags := hclsyntax.ParseExpression([]byte(tt.outbox), "t.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			ot, diags := bindOutbox(&Facts{Offset: time.Hour, Outbox: v, HasOutbox: true})
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			if ot.at != time.Hour {
				t.Errorf("at = %v", ot.at)
			}
			got := ot.fact
			if len(got.Failing) == 0 {
				got.Failing = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fact = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOutboxTemplate_value(t *testing.T) {
	num := func(v cty.Value) int64 {
		n, _ := v.AsBigFloat().Int64()
		return n
	}
	var none *outboxTemplate
	if v := none.value(time.Hour).Value(); !v.RawEquals(rules.OutboxFact{}.Value()) {
		t.Errorf("no outbox given: %#v", v)
	}
	idle := &outboxTemplate{at: time.Hour, fact: rules.OutboxFact{Dead: 2}}
	if v := idle.value(3 * time.Hour).Value(); num(v.GetAttr("oldest_age")) != 0 || num(v.GetAttr("failing_for")) != 0 || num(v.GetAttr("dead")) != 2 {
		t.Errorf("nothing pending or failing: no age grows: %#v", v)
	}
	ot := &outboxTemplate{at: time.Hour, fact: rules.OutboxFact{Pending: 1, OldestAge: time.Minute,
		Failing: map[string]rules.TransportStreak{"relay": {Failures: 2, FailingFor: 5 * time.Minute}}}}
	v := ot.value(time.Hour + 10*time.Minute).Value()
	if num(v.GetAttr("oldest_age")) != 11*60 || num(v.GetAttr("failing_for")) != 15*60 ||
		num(v.GetAttr("failing").Index(cty.StringVal("relay")).GetAttr("failing_for")) != 15*60 {
		t.Errorf("after 10m: %#v", v)
	}
	if ot.fact.Failing["relay"].FailingFor != 5*time.Minute {
		t.Error("value changed the template")
	}
}
