package rules

import (
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// TestFactObjects_SameAsBuiltAfresh: whatever changes between snapshots
// (a value, a field, a check gone or new, a zero Value), the cached
// objects equal what Facts builds from the same snapshot.
func TestSameValue(t *testing.T) {
	for _, tt := range []struct {
		a, b cty.Value
		want bool
	}{
		{cty.NumberIntVal(3), cty.NumberFloatVal(3), true},
		{cty.NumberIntVal(3), cty.NumberFloatVal(3.5), false},
		{cty.StringVal("x"), cty.StringVal("x"), true},
		{cty.StringVal("x"), cty.StringVal("y"), false},
		{cty.True, cty.False, false},
		{cty.NullVal(cty.String), cty.NullVal(cty.String), true},
		{cty.NullVal(cty.String), cty.StringVal(""), false},
		{cty.NullVal(cty.String), cty.NullVal(cty.Number), false},
		{cty.StringVal("1"), cty.NumberIntVal(1), false},
		{cty.UnknownVal(cty.String), cty.UnknownVal(cty.String), true},
		{cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)}), cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)}), true},
		{cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)}), cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(2)}), false},
	} {
		if got := sameValue(tt.a, tt.b); got != tt.want {
			t.Errorf("sameValue(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFactObjects_SameAsBuiltAfresh(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	fact := func(name string, size int64, ok bool) facts.Fact {
		f := facts.Fact{Check: name, Kind: facts.KindFile, OK: ok, Observed: at, Values: map[string]cty.Value{
			"exists": cty.BoolVal(ok), "size": cty.NumberIntVal(size), "path": cty.StringVal("/x/" + name), "json": {},
		}}
		if !ok {
			f.Error = "missing"
		}
		return f
	}
	peer := map[string]bool{"primary": true}
	snaps := []map[string]facts.Fact{
		{"a": fact("a", 1, true), "b": fact("b", 2, true), "primary": fact("primary", 0, true)},
		{"a": fact("a", 1, true), "b": fact("b", 2, true), "primary": fact("primary", 0, true)}, // unchanged
		{"a": fact("a", 5, true), "b": fact("b", 2, true), "primary": fact("primary", 0, true)}, // a value
		{"a": fact("a", 5, false), "b": fact("b", 2, true)},                                     // a field; the peer gone
		{"a": fact("a", 5, false), "c": fact("c", 3, true)},                                     // b gone, c new
		{},
		{"a": fact("a", 5, false)},
	}
	var c FactObjects
	for i, snap := range snaps {
		checks, peers := c.Variables(snap, peer)
		f := Facts{Checks: map[string]facts.Fact{}, Peers: map[string]facts.Fact{}}
		for name, fa := range snap {
			if peer[name] {
				f.Peers[name] = fa
			} else {
				f.Checks[name] = fa
			}
		}
		want := f.Variables()
		if !checks.RawEquals(want["check"]) {
			t.Errorf("snapshot %d: check = %#v, want %#v", i, checks, want["check"])
		}
		if !peers.RawEquals(want["peer"]) {
			t.Errorf("snapshot %d: peer = %#v, want %#v", i, peers, want["peer"])
		}
	}
}
