package rulestest

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// outboxTemplate is the outbox fact as a facts block gives it: as at the
// block's offset. Its ages grow with the timeline, as they do in an agent
// where nothing else happens, until a later block replaces it.
type outboxTemplate struct {
	at   time.Duration // the facts block's offset
	fact rules.OutboxFact
}

// value returns the outbox fact at offset d (not before t.at).
func (t *outboxTemplate) value(d time.Duration) rules.OutboxFact {
	if t == nil {
		return rules.OutboxFact{}
	}
	f := t.fact
	elapsed := max(d-t.at, 0)
	if f.Pending > 0 {
		f.OldestAge += elapsed
	}
	if len(f.Failing) > 0 {
		failing := make(map[string]rules.TransportStreak, len(f.Failing))
		for name, s := range f.Failing {
			s.FailingFor += elapsed
			failing[name] = s
		}
		f.Failing = failing
	}
	if f.StoreError != "" {
		f.StoreFailingFor += elapsed
	}
	return f
}

// outboxFields are the attributes of outbox = {...} in a facts block.
var (
	outboxFields = []string{"pending", "dead", "oldest_age", "failing_for", "failing", "store_failures", "store_failing_for", "store_error", "tests"}
	streakFields = []string{"failures", "failing_for", "last_error"}
	testFields   = []string{"ok", "state", "error", "at", "reason", "attempts"}
)

// bindOutbox checks the outbox value of facts block fb and returns its
// template. Left out are zero, but a streak's failures (1), last_error
// ("failed") and failing_for (the outbox's failing_for, else 0), and
// store_failures (1 when store_error is given); the outbox's failing_for
// is the longest streak's.
func bindOutbox(fb *Facts) (*outboxTemplate, hcl.Diagnostics) {
	rng := fb.OutboxRange
	var diags hcl.Diagnostics
	bad := func(format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid outbox fact",
			Detail:   fmt.Sprintf(format, args...) + ".",
			Subject:  rng.Ptr(),
		})
	}
	attrs, ok := fields(fb.Outbox)
	if !ok {
		bad(`outbox is an object such as outbox = { pending = 3, failing = { relay = { last_error = "535 authentication failed" } } }`)
		return nil, diags
	}
	unknown(attrs, outboxFields, "outbox", bad)
	ot := &outboxTemplate{at: fb.Offset}
	f := &ot.fact
	f.Pending = count(attrs, "pending", "outbox", 0, bad)
	f.Dead = count(attrs, "dead", "outbox", 0, bad)
	f.OldestAge, _ = duration(attrs, "oldest_age", "outbox", bad)
	failingFor, forGiven := duration(attrs, "failing_for", "outbox", bad)
	if f.OldestAge > 0 && f.Pending == 0 {
		bad("outbox: oldest_age is the age of the oldest pending notification; give pending too")
	}
	if v, given := attrs["failing"]; given && !v.IsNull() {
		failing, ok := fields(v)
		if !ok {
			bad(`outbox: failing maps a transport to its failure streak, such as failing = { relay = { failures = 3, last_error = "535 authentication failed" } }`)
			return ot, diags
		}
		f.Failing = map[string]rules.TransportStreak{}
		for _, name := range sortedKeys(failing) {
			where := "outbox.failing." + name
			sa, ok := fields(failing[name])
			if !ok {
				bad("%s: a streak is an object such as { failures = 3, failing_for = \"20m\", last_error = \"535 authentication failed\" }", where)
				continue
			}
			unknown(sa, streakFields, where, bad)
			s := rules.TransportStreak{Failures: count(sa, "failures", where, 1, bad), LastError: "failed"}
			if s.Failures == 0 {
				bad("%s: failures counts the failed attempts of a streak; it is at least 1", where)
			}
			if v, ok := sa["last_error"]; ok && !v.IsNull() {
				if v.Type() != cty.String {
					bad("%s: last_error must be a string", where)
				} else {
					s.LastError = v.AsString()
				}
			}
			var given bool
			if s.FailingFor, given = duration(sa, "failing_for", where, bad); !given {
				s.FailingFor = failingFor
			}
			f.Failing[name] = s
		}
	}
	if v, given := attrs["tests"]; given && !v.IsNull() {
		f.Tests = bindTests(v, bad)
	}
	if v, ok := attrs["store_error"]; ok && !v.IsNull() {
		if v.Type() != cty.String || v.AsString() == "" {
			bad(`outbox: store_error is the error of the last notification that could not be stored, such as "write outbox.db: no space left on device"`)
		} else {
			f.StoreError = v.AsString()
		}
	}
	f.StoreFailures = count(attrs, "store_failures", "outbox", 0, bad)
	f.StoreFailingFor, _ = duration(attrs, "store_failing_for", "outbox", bad)
	switch {
	case f.StoreError == "" && (f.StoreFailures > 0 || f.StoreFailingFor > 0):
		bad("outbox: store_failures and store_failing_for describe notifications that could not be stored; give store_error too")
	case f.StoreError != "" && f.StoreFailures == 0:
		f.StoreFailures = 1
	}
	if forGiven {
		switch longest := f.FailingFor(); {
		case len(f.Failing) == 0 && failingFor > 0:
			bad("outbox: failing_for is how long the longest streak of failing has lasted; name the failing transports in failing")
		case longest != failingFor:
			bad("outbox: failing_for is %s, but the longest streak in failing is %s; it must be the longest", FormatOffset(failingFor), FormatOffset(longest))
		}
	}
	return ot, diags
}

// bindTests reads outbox.tests: each transport's test mail. Left out are
// state (failed when error is given or ok is false, else passed), ok
// (state == "passed"), error ("failed" when failed), attempts (1 when
// failed), at and reason ("").
func bindTests(v cty.Value, bad func(string, ...any)) map[string]rules.TransportTest {
	tests, ok := fields(v)
	if !ok {
		bad(`outbox: tests maps a transport to its test mail, such as tests = { relay = { state = "failed", error = "535 authentication failed" } }`)
		return nil
	}
	out := map[string]rules.TransportTest{}
	for _, name := range sortedKeys(tests) {
		where := "outbox.tests." + name
		ta, ok := fields(tests[name])
		if !ok {
			bad("%s: a test mail is an object such as { state = \"failed\", error = \"535 authentication failed\" }", where)
			continue
		}
		unknown(ta, testFields, where, bad)
		str := func(n string) (string, bool) {
			v, ok := ta[n]
			if !ok || v.IsNull() {
				return "", false
			}
			if v.Type() != cty.String {
				bad("%s: %s must be a string", where, n)
				return "", false
			}
			return v.AsString(), true
		}
		var t rules.TransportTest
		errMsg, errGiven := str("error")
		state, stateGiven := str("state")
		okVal, okGiven := true, false
		if v, ok := ta["ok"]; ok && !v.IsNull() {
			if v.Type() != cty.Bool {
				bad("%s: ok must be true or false", where)
			} else {
				okVal, okGiven = v.True(), true
			}
		}
		switch {
		case stateGiven:
			if !slices.Contains([]string{rules.TestPassed, rules.TestPending, rules.TestFailed}, state) {
				bad("%s: state is %q, %q or %q, not %q", where, rules.TestPassed, rules.TestPending, rules.TestFailed, state)
			}
		case errGiven || !okVal:
			state = rules.TestFailed
		default:
			state = rules.TestPassed
		}
		if okGiven && okVal != (state == rules.TestPassed) {
			bad("%s: ok is true exactly when state is %q", where, rules.TestPassed)
		}
		t.State, t.Error = state, errMsg
		if state == rules.TestFailed && !errGiven {
			t.Error = "failed"
		}
		if at, given := str("at"); given && at != "" {
			ts, err := time.Parse(time.RFC3339, at)
			if err != nil {
				bad("%s: at is a time in RFC 3339, such as \"2026-12-05T08:00:00Z\" or at(\"-10m\")", where)
			}
			t.At = ts
		}
		t.Reason, _ = str("reason")
		def := 0
		if state == rules.TestFailed {
			def = 1
		}
		t.Attempts = count(ta, "attempts", where, def, bad)
		out[name] = t
	}
	return out
}

// fields returns the attributes of an object or map value.
func fields(v cty.Value) (map[string]cty.Value, bool) {
	if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return nil, false
	}
	m := v.AsValueMap()
	if m == nil {
		m = map[string]cty.Value{}
	}
	return m, true
}

// unknown reports the attributes of attrs that are not among known.
func unknown(attrs map[string]cty.Value, known []string, where string, bad func(string, ...any)) {
	for _, name := range sortedKeys(attrs) {
		if !slices.Contains(known, name) {
			msg := fmt.Sprintf("%s has no value named %q", where, name)
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			bad("%s; it has %s", msg, strings.Join(known, ", "))
		}
	}
}

// count reads a whole number that is not negative; def when left out.
func count(attrs map[string]cty.Value, name, where string, def int, bad func(string, ...any)) int {
	v, ok := attrs[name]
	if !ok || v.IsNull() {
		return def
	}
	if v.Type() != cty.Number {
		bad("%s: %s must be a number", where, name)
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact || n < 0 || n > 1<<31 {
		bad("%s: %s must be a whole number that is not negative", where, name)
		return def
	}
	return int(n)
}

// duration reads a duration that is not negative: a string such as "20m"
// or a number of seconds. It reports whether the value was given.
func duration(attrs map[string]cty.Value, name, where string, bad func(string, ...any)) (time.Duration, bool) {
	v, ok := attrs[name]
	if !ok || v.IsNull() {
		return 0, false
	}
	var d time.Duration
	switch v.Type() {
	case cty.String:
		var err error
		if d, err = rules.ParseDuration(strings.TrimSpace(v.AsString())); err != nil {
			bad("%s: %s: %s", where, name, err)
			return 0, true
		}
	case cty.Number:
		secs, _ := v.AsBigFloat().Float64()
		switch {
		case secs < 0:
			bad("%s: %s must not be negative", where, name)
			return 0, true
		case secs > float64(1<<62)/float64(time.Second):
			bad("%s: %s is out of range", where, name)
			return 0, true
		}
		d = time.Duration(secs * float64(time.Second))
	default:
		bad("%s: %s is a duration such as \"20m\", or a number of seconds", where, name)
		return 0, true
	}
	if d < 0 {
		bad("%s: %s must not be negative", where, name)
		return 0, true
	}
	return d, true
}
