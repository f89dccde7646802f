package metrics

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMetrics_States(t *testing.T) {
	m, url := newTest(t)
	for _, name := range []string{"tocsin_rule_state", "tocsin_check_up", "tocsin_check_duration_seconds", "tocsin_peer_up"} {
		if f := scrape(t, url); f[name] != nil {
			t.Fatalf("%s before States was called: %s", name, f.series(name))
		}
	}
	var (
		rules  atomic.Pointer[[]RuleState]
		checks atomic.Pointer[[]CheckState]
	)
	m.States(func() []RuleState { return *rules.Load() }, func() []CheckState { return *checks.Load() })

	steps := []struct {
		rules  []RuleState
		checks []CheckState
	}{
		{
			rules: []RuleState{{Name: "disk", Severity: "warning", Phase: "inactive"}, {Name: "down", Severity: "critical", Phase: "pending"}},
			checks: []CheckState{
				{Name: "portal", Kind: "http", Up: true, Duration: 250 * time.Millisecond},
				{Name: "primary", Kind: "peer", Peer: true, Up: true, Duration: time.Second},
			},
		},
		{
			// down fires; portal fails; the peer is gone.
			rules: []RuleState{{Name: "disk", Severity: "warning", Phase: "inactive"}, {Name: "down", Severity: "critical", Phase: "firing"}, {Name: "odd", Phase: "phase(7)"}},
			checks: []CheckState{
				{Name: "portal", Kind: "http", Up: false, Duration: 5 * time.Second},
				{Name: "primary", Kind: "peer", Peer: true, Up: false},
			},
		},
		{}, // a reload removed them all
	}
	for i, step := range steps {
		rules.Store(&step.rules)
		checks.Store(&step.checks)
		f := scrape(t, url)
		var known []RuleState
		for _, r := range step.rules {
			if r.Phase != "phase(7)" {
				known = append(known, r)
			}
		}
		if got, want := len(f["tocsin_rule_state"].GetMetric()), len(known); got != want {
			t.Errorf("step %d: %d rule_state series, want %d: %s", i, got, want, f.series("tocsin_rule_state"))
		}
		for _, r := range known {
			want := map[string]float64{"inactive": 0, "pending": 1, "firing": 2}[r.Phase]
			if got := f.value(t, "tocsin_rule_state", l("rule", r.Name, "severity", r.Severity)); got != want {
				t.Errorf("step %d: rule_state{rule=%s} = %v, want %v (%s)", i, r.Name, got, want, r.Phase)
			}
		}
		var plain int
		for _, c := range step.checks {
			up := 0.0
			if c.Up {
				up = 1
			}
			if c.Peer {
				if got := f.value(t, "tocsin_peer_up", l("peer", c.Name)); got != up {
					t.Errorf("step %d: peer_up{peer=%s} = %v, want %v", i, c.Name, got, up)
				}
				if f.find("tocsin_check_up", l("check", c.Name, "kind", c.Kind)) != nil {
					t.Errorf("step %d: the peer %s has a check_up series too", i, c.Name)
				}
				continue
			}
			plain++
			if got := f.value(t, "tocsin_check_up", l("check", c.Name, "kind", c.Kind)); got != up {
				t.Errorf("step %d: check_up{check=%s} = %v, want %v", i, c.Name, got, up)
			}
			if got := f.value(t, "tocsin_check_duration_seconds", l("check", c.Name, "kind", c.Kind)); got != c.Duration.Seconds() {
				t.Errorf("step %d: check_duration_seconds{check=%s} = %v, want %v", i, c.Name, got, c.Duration.Seconds())
			}
		}
		if got := len(f["tocsin_check_up"].GetMetric()); got != plain {
			t.Errorf("step %d: %d check_up series, want %d", i, got, plain)
		}
	}
	m.States(nil, nil)
	f := scrape(t, url)
	for _, name := range []string{"tocsin_rule_state", "tocsin_check_up", "tocsin_peer_up"} {
		if f[name] != nil {
			t.Errorf("%s after States(nil, nil): %s", name, f.series(name))
		}
	}
}
