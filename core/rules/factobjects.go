package rules

import (
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// FactObjects turns the facts of a snapshot into the variables check and
// peer (of [Vars]), reusing what the previous snapshot built: checks run on their own
// intervals, so most ticks read the same facts as the tick before, and
// building the object of a thousand facts is most of a tick's garbage. A
// fact is reused only when it equals the cached one in every field and
// value, so the result is what [FactsObject] would give. The zero
// FactObjects is ready to use; it is safe for concurrent use.
type FactObjects struct {
	mu     sync.Mutex
	checks factGroup
	peers  factGroup
}

// factGroup is the cache of one variable (check or peer).
type factGroup struct {
	facts map[string]facts.Fact
	objs  map[string]cty.Value
	whole cty.Value // the object of all of them, when built
	built bool
}

// Variables returns the objects check and peer for snap, whose entries
// named in peer are peers.
func (c *FactObjects) Variables(snap map[string]facts.Fact, peer map[string]bool) (checks, peers cty.Value) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nc, np := 0, 0
	for name := range snap {
		if peer[name] {
			np++
		} else {
			nc++
		}
	}
	return c.checks.update(snap, func(name string) bool { return !peer[name] }, nc),
		c.peers.update(snap, func(name string) bool { return peer[name] }, np)
}

// update brings g up to the facts of snap that belong to it (n of them)
// and returns the object of all of them.
func (g *factGroup) update(snap map[string]facts.Fact, mine func(string) bool, n int) cty.Value {
	if n == 0 {
		g.facts, g.objs, g.built = nil, nil, false
		return cty.EmptyObjectVal
	}
	if g.facts == nil {
		g.facts, g.objs = make(map[string]facts.Fact, n), make(map[string]cty.Value, n)
	}
	changed := len(g.facts) != n
	for name, f := range snap {
		if !mine(name) {
			continue
		}
		if old, ok := g.facts[name]; ok && sameFact(old, f) {
			continue
		}
		g.facts[name] = f
		g.objs[name] = f.Object()
		changed = true
	}
	if len(g.facts) != n {
		// Facts that are gone from the snapshot.
		for name := range g.facts {
			if _, ok := snap[name]; !ok || !mine(name) {
				delete(g.facts, name)
				delete(g.objs, name)
			}
		}
		changed = true
	}
	if changed || !g.built {
		g.built = true
		attrs := make(map[string]cty.Value, len(g.objs))
		for name, o := range g.objs {
			attrs[name] = o
		}
		g.whole = cty.ObjectVal(attrs)
	}
	return g.whole
}

// sameFact reports whether a and b are the same observation: equal in
// every field and every value.
func sameFact(a, b facts.Fact) bool {
	if a.Check != b.Check || a.Kind != b.Kind || a.OK != b.OK || a.Error != b.Error ||
		a.Latency != b.Latency || !a.Observed.Equal(b.Observed) || len(a.Values) != len(b.Values) {
		return false
	}
	for k, va := range a.Values {
		vb, ok := b.Values[k]
		if !ok {
			return false
		}
		// A zero Value (NilType) cannot be compared; Object makes it a
		// dynamic null.
		nilA, nilB := va.Type() == cty.NilType, vb.Type() == cty.NilType
		if nilA || nilB {
			if nilA != nilB {
				return false
			}
			continue
		}
		if !sameValue(va, vb) {
			return false
		}
	}
	return true
}

// sameValue is RawEquals, faster for the known primitive values most
// facts hold (RawEquals formats numbers to compare them).
func sameValue(a, b cty.Value) bool {
	if !a.Type().Equals(b.Type()) {
		return false
	}
	if !a.IsKnown() || !b.IsKnown() || a.IsMarked() || b.IsMarked() {
		return a.RawEquals(b)
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	switch a.Type() {
	case cty.String:
		return a.AsString() == b.AsString()
	case cty.Bool:
		return a.True() == b.True()
	case cty.Number:
		return a.AsBigFloat().Cmp(b.AsBigFloat()) == 0
	}
	return a.RawEquals(b)
}
