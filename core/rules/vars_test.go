package rules

import (
	"slices"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
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
		"tests": cty.MapValEmpty(OutboxTestType),
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

// TestOutboxFact_Tests: outbox.tests holds each transport's test mail;
// ok is true only when it passed, at is RFC 3339 ("" when unknown).
func TestOutboxFact_Tests(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	v := OutboxFact{Tests: map[string]TransportTest{
		"relay": {State: TestFailed, Error: "permanent error 535: 5.7.8 authentication failed", At: at, Reason: "settings changed", Attempts: 2},
		"graph": {State: TestPassed, At: at},
		"new":   {State: TestPending},
	}}.Value()
	if !v.Type().Equals(OutboxType) {
		t.Fatalf("type %s", v.Type().FriendlyName())
	}
	tests := v.GetAttr("tests")
	for _, tt := range []struct {
		name, state, err, at, reason string
		ok                           bool
		attempts                     int64
	}{
		{name: "relay", state: "failed", err: "permanent error 535: 5.7.8 authentication failed", at: "2026-12-05T09:00:00Z", reason: "settings changed", attempts: 2},
		{name: "graph", state: "passed", at: "2026-12-05T09:00:00Z", ok: true},
		{name: "new", state: "pending"},
	} {
		got := tests.Index(cty.StringVal(tt.name))
		n, _ := got.GetAttr("attempts").AsBigFloat().Int64()
		if got.GetAttr("state").AsString() != tt.state || got.GetAttr("error").AsString() != tt.err || got.GetAttr("at").AsString() != tt.at ||
			got.GetAttr("reason").AsString() != tt.reason || got.GetAttr("ok").True() != tt.ok || n != tt.attempts {
			t.Errorf("%s = %#v", tt.name, got)
		}
	}
}

// TestVars_ValuesHaveTheirTypes: the values Vars builds (agent, outbox,
// credential)
// are of the types VarTypes gives the validation, so a configuration that
// validates reads at run time what it was checked against; an outbox
// not asked for is left out.
func TestVars_ValuesHaveTheirTypes(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	web := facts.Fact{Check: "web", Kind: facts.KindTCP, OK: true, Observed: at}
	primary := facts.Fact{Check: "primary", Kind: facts.KindPeer, Observed: at}
	types := VarTypes{Checks: map[string]facts.Kind{"web": facts.KindTCP}, Peers: map[string]bool{"primary": true}}.EvalContext().Variables
	for _, tt := range []struct {
		name string
		vars Vars
		want []string // the variables present
	}{
		{name: "zero", vars: Vars{}, want: []string{"agent", "check", "credential", "node", "peer"}},
		{name: "full", vars: Vars{
			Node:   map[string]cty.Value{"role": cty.StringVal("backup")},
			Check:  FactsObject(map[string]facts.Fact{"web": web}),
			Peer:   FactsObject(map[string]facts.Fact{"primary": primary}),
			Agent:  AgentVars{Node: "n1", Started: at, Failing: map[string]string{"r": "boom"}, Role: RoleMemory{Role: "backup", Since: at}},
			Outbox: &OutboxFact{Pending: 1, Failing: map[string]TransportStreak{"relay": {Failures: 1}}},
			Credential: CredentialsValue(map[string]CredentialFact{
				"relay": {Expires: at.Add(48 * time.Hour), Source: CredentialCertificate, What: "client certificate"},
				"login": {Source: CredentialLogin, ObtainedAt: at},
			}, at),
		}, want: []string{"agent", "check", "credential", "node", "outbox", "peer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.vars.Values()
			var names []string
			for n := range got {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Fatalf("variables %v, want %v", names, tt.want)
			}
			for _, n := range []string{"agent", "outbox", "credential"} {
				if v, ok := got[n]; ok && !v.Type().Equals(types[n].Type()) {
					t.Errorf("%s is a %s, validated as a %s", n, v.Type().FriendlyName(), types[n].Type().FriendlyName())
				}
			}
			// check and peer are the facts' objects (facts.ObjectType is
			// theirs to keep); the zero Vars reads none.
			if tt.vars.Check == cty.NilVal && (!got["check"].RawEquals(cty.EmptyObjectVal) || !got["peer"].RawEquals(cty.EmptyObjectVal) || !got["node"].RawEquals(cty.EmptyObjectVal)) {
				t.Errorf("zero Vars: check %#v, peer %#v, node %#v; want empty objects", got["check"], got["peer"], got["node"])
			}
		})
	}
}
