package rules

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

const m = time.Minute

var errBoom = errors.New("boom")

// flapRule fires at once (For 0) and flaps after 3 changes within 10
// minutes; it settles after 5 minutes without a change.
func flapRule() *Rule {
	return &Rule{Name: "r", Repeat: 2 * m, Flap: Flap{Changes: 3, Window: 10 * m, Settle: 5 * m}}
}

func TestStep_Flapping(t *testing.T) {
	tests := []struct {
		name  string
		rule  *Rule
		ticks []tick
	}{{
		name: "the third change within the window starts the flapping instead of notifying",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
		},
	}, {
		name: "a change as old as the window is no longer counted",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 5 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 10 * m, holds: true, phase: Firing, events: []Event{EventFire}},
		},
	}, {
		name: "a change just inside the window is counted",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 5 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 10*m - time.Second, holds: true, phase: Firing, events: []Event{EventFlapStart}},
		},
	}, {
		name: "while flapping, fire, repeat and resolve are held back; settled firing fires again",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
			{at: 3 * m, holds: false, phase: Inactive},
			{at: 4 * m, holds: true, phase: Firing},
			{at: 6 * m, holds: true, phase: Firing},                                           // Repeat is due: held back
			{at: 9*m - time.Second, holds: true, phase: Firing},                               // 4m59s without a change
			{at: 9 * m, holds: true, phase: Firing, events: []Event{EventFlapEnd, EventFire}}, // settled
			{at: 10 * m, holds: true, phase: Firing},
			{at: 11 * m, holds: true, phase: Firing, events: []Event{EventRepeat}}, // repeats count from the settling
		},
	}, {
		name: "settled while not holding: the alert's end",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
			{at: 3 * m, holds: false, phase: Inactive},
			{at: 8 * m, holds: false, phase: Inactive, events: []Event{EventFlapEnd, EventResolve}},
			{at: 9 * m, holds: false, phase: Inactive},
		},
	}, {
		name: "settled while pending: the alert's end, then it fires when For has passed",
		rule: &Rule{Name: "r", For: 2 * m, Flap: Flap{Changes: 3, Window: 10 * m, Settle: 5 * m}},
		ticks: []tick{
			{at: 0, holds: true, phase: Pending},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 3 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 4 * m, holds: true, phase: Pending},
			{at: 6 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
			{at: 7 * m, holds: false, phase: Inactive},
			{at: 11 * m, holds: true, phase: Pending},
			{at: 12 * m, holds: true, phase: Pending, events: []Event{EventFlapEnd, EventResolve}},
			{at: 13 * m, holds: true, phase: Firing, events: []Event{EventFire}},
		},
	}, {
		name: "after settling, flapping needs as many changes again",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
			{at: 7 * m, holds: true, phase: Firing, events: []Event{EventFlapEnd, EventFire}},
			{at: 8 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 9 * m, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 10 * m, holds: false, phase: Inactive, events: []Event{EventFlapStart}},
		},
	}, {
		name: "settle unset is the window",
		rule: &Rule{Name: "r", Flap: Flap{Changes: 2, Window: 10 * m}},
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventFlapStart}},
			{at: 11*m - time.Second, holds: false, phase: Inactive},
			{at: 11 * m, holds: false, phase: Inactive, events: []Event{EventFlapEnd, EventResolve}},
		},
	}, {
		name: "an error while flapping changes nothing",
		rule: flapRule(),
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFlapStart}},
			{at: 8 * m, err: errBoom, phase: Firing, events: []Event{EventErrorStarted}},
			{at: 9 * m, holds: true, phase: Firing, events: []Event{EventErrorCleared, EventFlapEnd, EventFire}},
		},
	}, {
		name: "without flap detection every change notifies",
		rule: &Rule{Name: "r"},
		ticks: []tick{
			{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 1 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 2 * m, holds: true, phase: Firing, events: []Event{EventFire}},
			{at: 3 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
			{at: 4 * m, holds: true, phase: Firing, events: []Event{EventFire}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runTimeline(t, tt.rule, tt.ticks)
		})
	}
}

// TestStep_FlappingState checks the fields flap detection keeps: the
// changes within the window, FlappingSince, and nothing for a rule
// without flap detection.
func TestStep_FlappingState(t *testing.T) {
	r := flapRule()
	var s State
	step := func(at time.Duration, holds bool) {
		t.Helper()
		s, _ = Step(r, s, holds, nil, t0.Add(at))
	}
	step(0, true)
	step(1*m, false)
	if want := []time.Time{t0, t0.Add(m)}; !slices.EqualFunc(s.Changes, want, time.Time.Equal) || !s.FlappingSince.IsZero() {
		t.Fatalf("after two changes: Changes %v, FlappingSince %v; want %v and zero", s.Changes, s.FlappingSince, want)
	}
	step(2*m, true)
	if !s.FlappingSince.Equal(t0.Add(2*m)) || len(s.Changes) != 3 {
		t.Fatalf("flapping: FlappingSince %v, %d changes; want %v, 3", s.FlappingSince, len(s.Changes), t0.Add(2*m))
	}
	step(8*m, false)  // held back, but counted
	step(11*m, false) // the changes at 0 and 1m are out of the window
	if !slices.EqualFunc(s.Changes, []time.Time{t0.Add(2 * m), t0.Add(8 * m)}, time.Time.Equal) || !s.FlappingSince.Equal(t0.Add(2*m)) {
		t.Fatalf("Changes %v, FlappingSince %v; want those at 2m and 8m, and 2m", s.Changes, s.FlappingSince)
	}
	step(13*m, false) // 5m after the last change: settled
	if s.Changes != nil || !s.FlappingSince.IsZero() {
		t.Fatalf("after settling: Changes %v, FlappingSince %v; want none and zero", s.Changes, s.FlappingSince)
	}

	s, _ = Step(r, State{Phase: Firing, FlappingSince: t0, Changes: []time.Time{t0}}, true, nil, t0.Add(5*m))
	if s.Changes != nil || !s.FlappingSince.IsZero() || !s.LastNotified.Equal(t0.Add(5*m)) || s.Repeats != 0 {
		t.Fatalf("settled state %+v; want no changes, not flapping, notified now, no repeats", s)
	}

	var plain State
	for i := range 6 {
		plain, _ = Step(&Rule{Name: "p"}, plain, i%2 == 0, nil, t0.Add(time.Duration(i)*m))
	}
	if plain.Changes != nil || !plain.FlappingSince.IsZero() {
		t.Fatalf("a rule without flap detection keeps Changes %v, FlappingSince %v", plain.Changes, plain.FlappingSince)
	}
}

// TestStep_FlappingDoesNotShareChanges: Step must not write into the
// previous state's Changes, which the caller may still hold (the engine
// keeps the old state when a hand-off fails).
func TestStep_FlappingDoesNotShareChanges(t *testing.T) {
	r := &Rule{Name: "r", Flap: Flap{Changes: 5, Window: time.Hour}}
	backing := make([]time.Time, 1, 4)
	backing[0] = t0
	prev := State{Phase: Firing, Changes: backing}
	next, _ := Step(r, prev, false, nil, t0.Add(m))
	if len(next.Changes) != 2 {
		t.Fatalf("next.Changes = %v; want two", next.Changes)
	}
	if got := backing[:2][1]; !got.IsZero() {
		t.Fatalf("Step wrote %v into the previous state's backing array", got)
	}
	next2, _ := Step(r, prev, true, nil, t0.Add(2*m)) // no change: nothing appended
	if len(next2.Changes) != 1 {
		t.Fatalf("next2.Changes = %v; want the one change", next2.Changes)
	}
}

func TestEvaluate_FlappingNotification(t *testing.T) {
	parse := func(src string) hcl.Expression {
		t.Helper()
		x, diags := hclsyntax.ParseTemplate([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return x
	}
	cond, _ := hclsyntax.ParseExpression([]byte("node.down"), "c.hcl", hcl.InitialPos)
	r := &Rule{Name: "primary_down", When: cond, OnResolve: true, Severity: "critical",
		Subject: parse("the primary ${node.who} is ${rule.state}"),
		Text:    parse("It said: ${node.error}"),
		Flap:    Flap{Changes: 2, Window: time.Hour, Settle: 30 * m}}
	ctx := func(down bool, errText cty.Value) *hcl.EvalContext {
		return &hcl.EvalContext{Variables: map[string]cty.Value{"node": cty.ObjectVal(map[string]cty.Value{
			"down": cty.BoolVal(down), "who": cty.StringVal("alpha"), "error": errText})}}
	}
	var s State
	res := Evaluate(r, s, ctx(true, cty.StringVal("timeout")), t0)
	s = res.State
	res = Evaluate(r, s, ctx(false, cty.StringVal("timeout")), t0.Add(m))
	if len(res.Notifications) != 1 {
		t.Fatalf("notifications %+v; want the flapping one", res.Notifications)
	}
	n := res.Notifications[0]
	if n.Event != EventFlapStart || n.Subject != "Flapping: the primary alpha is flapping" {
		t.Fatalf("event %v, subject %q", n.Event, n.Subject)
	}
	for _, want := range []string{"fired or resolved 2 times since " + t0.UTC().Format(time.RFC3339), "for 30 minutes", "The alert:\n\nIt said: timeout"} {
		if !strings.Contains(n.Text, want) {
			t.Errorf("text %q lacks %q", n.Text, want)
		}
	}

	// A text that cannot be rendered (the error is gone once the alert
	// resolved) is left out, without a complaint.
	res = Evaluate(r, State{}, ctx(true, cty.NullVal(cty.String)), t0)
	res = Evaluate(r, res.State, ctx(false, cty.NullVal(cty.String)), t0.Add(m))
	if len(res.Notifications) != 1 {
		t.Fatalf("notifications %+v", res.Notifications)
	}
	if txt := res.Notifications[0].Text; strings.Contains(txt, "could not render") || strings.Contains(txt, "The alert") || !strings.Contains(txt, "it is flapping") {
		t.Fatalf("text %q", txt)
	}
}

func TestInWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1 hour", 30 * m: "30 minutes", 90 * time.Second: "90 seconds", 48 * time.Hour: "2 days",
		time.Second: "1 second", 1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := inWords(d); got != want {
			t.Errorf("inWords(%v) = %q; want %q", d, got, want)
		}
	}
}
