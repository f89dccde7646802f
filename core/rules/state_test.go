package rules

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// tick is one evaluation in a state machine timeline.
type tick struct {
	at     time.Duration // since t0
	holds  bool
	err    error
	phase  Phase
	events []Event
}

// runTimeline steps r through ticks from the zero state, checking each.
func runTimeline(t *testing.T, r *Rule, ticks []tick) State {
	t.Helper()
	var s State
	for i, tk := range ticks {
		now := t0.Add(tk.at)
		var ev []Event
		s, ev = Step(r, s, tk.holds, tk.err, now)
		if s.Phase != tk.phase {
			t.Fatalf("tick %d (+%s): phase %s, want %s", i, tk.at, s.Phase, tk.phase)
		}
		if !slices.Equal(ev, tk.events) {
			t.Fatalf("tick %d (+%s): events %v, want %v", i, tk.at, ev, tk.events)
		}
		if !s.LastEval.Equal(now) {
			t.Fatalf("tick %d: LastEval %v, want %v", i, s.LastEval, now)
		}
	}
	return s
}

func TestStep_FullTimeline(t *testing.T) {
	r := &Rule{Name: "r", For: 10 * time.Minute, Repeat: time.Hour}
	m := time.Minute
	s := runTimeline(t, r, []tick{
		{at: 0, holds: false, phase: Inactive},
		{at: 5 * m, holds: true, phase: Pending},
		{at: 10 * m, holds: true, phase: Pending},
		{at: 15 * m, holds: true, phase: Firing, events: []Event{EventFire}},
		{at: 20 * m, holds: true, phase: Firing},
		{at: 74 * m, holds: true, phase: Firing},
		{at: 75 * m, holds: true, phase: Firing, events: []Event{EventRepeat}},
		{at: 80 * m, holds: true, phase: Firing},
		{at: 135 * m, holds: true, phase: Firing, events: []Event{EventRepeat}},
		{at: 140 * m, holds: false, phase: Inactive, events: []Event{EventResolve}},
		{at: 145 * m, holds: false, phase: Inactive},
	})
	if !s.FiredAt.Equal(t0.Add(15*m)) || !s.ResolvedAt.Equal(t0.Add(140*m)) ||
		!s.LastNotified.Equal(t0.Add(135*m)) || s.Repeats != 2 || !s.ActiveSince.IsZero() {
		t.Fatalf("final state %+v", s)
	}
}

func TestStep_ForZeroFiresAtOnce(t *testing.T) {
	r := &Rule{Name: "r"}
	s := runTimeline(t, r, []tick{
		{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
		{at: time.Hour, holds: true, phase: Firing}, // Repeat == 0: no repeat, ever
		{at: 48 * time.Hour, holds: true, phase: Firing},
		{at: 49 * time.Hour, holds: false, phase: Inactive, events: []Event{EventResolve}},
		{at: 50 * time.Hour, holds: true, phase: Firing, events: []Event{EventFire}},
	})
	if !s.ResolvedAt.IsZero() || s.Repeats != 0 {
		t.Fatalf("a new firing must clear ResolvedAt and Repeats: %+v", s)
	}
}

func TestStep_FlappingBelowForNeverFires(t *testing.T) {
	r := &Rule{Name: "r", For: 5 * time.Minute}
	var ticks []tick
	for i := 0; i < 40; i++ {
		holds := i%4 != 3 // holds for 3 minutes, then not for 1
		ph := Pending
		if !holds {
			ph = Inactive
		}
		ticks = append(ticks, tick{at: time.Duration(i) * time.Minute, holds: holds, phase: ph})
	}
	runTimeline(t, r, ticks)
}

func TestStep_Errors(t *testing.T) {
	r := &Rule{Name: "r", For: 0, Repeat: time.Minute}
	errA := errors.New("rule \"r\": when: rules.hcl:1:1: Unknown variable")
	errB := errors.New("rule \"r\": when: rules.hcl:1:1: Unsupported attribute")
	s := runTimeline(t, r, []tick{
		{at: 0, holds: true, phase: Firing, events: []Event{EventFire}},
		{at: 1 * time.Minute, err: errA, phase: Firing, events: []Event{EventErrorStarted}},
		{at: 2 * time.Minute, err: errA, phase: Firing},                                     // reported once, not every tick
		{at: 3 * time.Minute, err: errA, holds: true, phase: Firing},                        // no repeat while erroring
		{at: 4 * time.Minute, err: errA, holds: false, phase: Firing},                       // no resolve while erroring
		{at: 5 * time.Minute, err: errB, phase: Firing, events: []Event{EventErrorStarted}}, // new text
		{at: 6 * time.Minute, err: errB, phase: Firing},
		{at: 7 * time.Minute, holds: true, phase: Firing, events: []Event{EventErrorCleared, EventRepeat}},
		{at: 8 * time.Minute, holds: false, phase: Inactive, events: []Event{EventResolve}},
		{at: 9 * time.Minute, err: errA, phase: Inactive, events: []Event{EventErrorStarted}},
		{at: 10 * time.Minute, holds: false, phase: Inactive, events: []Event{EventErrorCleared}},
	})
	if s.Err != "" {
		t.Fatalf("Err = %q after clearing", s.Err)
	}
}

func TestStep_ErrorWhilePendingKeepsActiveSince(t *testing.T) {
	r := &Rule{Name: "r", For: 10 * time.Minute}
	runTimeline(t, r, []tick{
		{at: 0, holds: true, phase: Pending},
		{at: 5 * time.Minute, err: errors.New("boom"), phase: Pending, events: []Event{EventErrorStarted}},
		{at: 15 * time.Minute, holds: true, phase: Firing, events: []Event{EventErrorCleared, EventFire}},
	})
}

func TestStep_ErrSetAndText(t *testing.T) {
	s, ev := Step(&Rule{}, State{}, false, errors.New("x"), t0)
	if s.Err != "x" || !slices.Equal(ev, []Event{EventErrorStarted}) {
		t.Fatalf("got %+v %v", s, ev)
	}
	// An error with empty text still marks the rule as erroring.
	s, ev = Step(&Rule{}, State{}, false, errors.New(""), t0)
	if s.Err == "" || len(ev) != 1 {
		t.Fatalf("empty error text: got %+v %v", s, ev)
	}
}

func TestStep_ClockBackwards(t *testing.T) {
	r := &Rule{Name: "r", For: 10 * time.Minute, Repeat: time.Hour}
	s := State{Phase: Pending, ActiveSince: t0.Add(24 * time.Hour)}
	s, _ = Step(r, s, true, nil, t0)
	if !s.ActiveSince.Equal(t0) {
		t.Fatalf("ActiveSince %v, want reset to now", s.ActiveSince)
	}
	s, ev := Step(r, s, true, nil, t0.Add(10*time.Minute))
	if s.Phase != Firing || !slices.Equal(ev, []Event{EventFire}) {
		t.Fatalf("want fire 10m after the reset, got %s %v", s.Phase, ev)
	}
	s.LastNotified = t0.Add(48 * time.Hour)
	s, _ = Step(r, s, true, nil, t0.Add(20*time.Minute))
	s, ev = Step(r, s, true, nil, t0.Add(80*time.Minute))
	if !slices.Equal(ev, []Event{EventRepeat}) {
		t.Fatalf("want a repeat an hour after the reset, got %v", ev)
	}
}

func TestStep_NilRule(t *testing.T) {
	s, ev := Step(nil, State{}, true, nil, t0)
	if s.Phase != Firing || !slices.Equal(ev, []Event{EventFire}) {
		t.Fatalf("got %s %v", s.Phase, ev)
	}
}

func TestPhaseAndEvent_String(t *testing.T) {
	for p, want := range map[Phase]string{Inactive: "inactive", Pending: "pending", Firing: "firing", 7: "phase(7)"} {
		if p.String() != want {
			t.Errorf("%d: %q", int(p), p.String())
		}
	}
	for e, want := range map[Event]string{EventFire: "fire", EventRepeat: "repeat", EventResolve: "resolve",
		EventErrorStarted: "error_started", EventErrorCleared: "error_cleared", 0: "event(0)"} {
		if e.String() != want {
			t.Errorf("%d: %q", int(e), e.String())
		}
	}
}

// TestStep_InactiveHasNoSince checks every way into Inactive: an inactive
// rule has no ActiveSince, so a status page shows no stale "since".
func TestStep_InactiveHasNoSince(t *testing.T) {
	r := &Rule{Name: "r", For: 10 * time.Minute, Repeat: time.Hour}
	earlier := t0.Add(-3 * time.Minute)
	tests := []struct {
		name   string
		from   State
		events []Event
	}{
		{name: "pending stops holding", from: State{Phase: Pending, ActiveSince: earlier}},
		{name: "firing resolves", from: State{Phase: Firing, ActiveSince: earlier, FiredAt: earlier, LastNotified: earlier}, events: []Event{EventResolve}},
		{name: "pending stops holding as its error clears", from: State{Phase: Pending, ActiveSince: earlier, Err: "boom"}, events: []Event{EventErrorCleared}},
		{name: "inactive with a since from an older record", from: State{Phase: Inactive, ActiveSince: earlier}},
		{name: "unknown phase stops holding", from: State{Phase: 7, ActiveSince: earlier}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ev := Step(r, tt.from, false, nil, t0)
			if s.Phase != Inactive || !slices.Equal(ev, tt.events) {
				t.Fatalf("got %s %v, want inactive %v", s.Phase, ev, tt.events)
			}
			if !s.ActiveSince.IsZero() {
				t.Fatalf("inactive rule has ActiveSince %v, want zero", s.ActiveSince)
			}
		})
	}
}
