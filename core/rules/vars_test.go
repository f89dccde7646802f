package rules

import (
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func TestOutboxFact_Value(t *testing.T) {
	empty := OutboxFact{}.Value()
	if !empty.Type().Equals(OutboxType) {
		t.Fatalf("empty: %s", empty.Type().FriendlyName())
	}
	want := cty.ObjectVal(map[string]cty.Value{
		"pending": cty.NumberIntVal(0), "dead": cty.NumberIntVal(0), "oldest_age": cty.NumberIntVal(0), "failing_for": cty.NumberIntVal(0),
		"failing":        cty.MapValEmpty(OutboxStreakType),
		"store_failures": cty.NumberIntVal(0), "store_failing_for": cty.NumberIntVal(0), "store_error": cty.StringVal(""),
	})
	if !empty.RawEquals(want) {
		t.Errorf("empty = %#v", empty)
	}

	f := OutboxFact{
		Pending: 4, Dead: 1, OldestAge: 90*time.Second + 900*time.Millisecond,
		Failing: map[string]TransportStreak{
			"relay": {Failures: 5, FailingFor: 20 * time.Minute, LastError: "permanent error 535"},
			"graph": {Failures: 1, FailingFor: 30 * time.Second, LastError: "temporary error 429"},
			"clock": {Failures: 1, FailingFor: -time.Second, LastError: "x"}, // a clock that went back
		},
		StoreFailures: 3, StoreFailingFor: 125 * time.Second, StoreError: "write outbox.db: no space left on device",
	}
	if f.FailingFor() != 20*time.Minute {
		t.Errorf("FailingFor = %v", f.FailingFor())
	}
	v := f.Value()
	if !v.Type().Equals(OutboxType) {
		t.Fatalf("type %s", v.Type().FriendlyName())
	}
	num := func(v cty.Value) int64 {
		n, _ := v.AsBigFloat().Int64()
		return n
	}
	if e := v.GetAttr("store_error").AsString(); e != "write outbox.db: no space left on device" {
		t.Errorf("store_error = %q", e)
	}
	for name, want := range map[string]int64{"pending": 4, "dead": 1, "oldest_age": 90, "failing_for": 1200, "store_failures": 3, "store_failing_for": 125} {
		if got := num(v.GetAttr(name)); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	relay := v.GetAttr("failing").Index(cty.StringVal("relay"))
	if num(relay.GetAttr("failures")) != 5 || num(relay.GetAttr("failing_for")) != 1200 || relay.GetAttr("last_error").AsString() != "permanent error 535" {
		t.Errorf("relay = %#v", relay)
	}
	if n := num(v.GetAttr("failing").Index(cty.StringVal("clock")).GetAttr("failing_for")); n != 0 {
		t.Errorf("a negative streak is %d seconds", n)
	}
}
