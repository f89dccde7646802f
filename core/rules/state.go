package rules

import (
	"fmt"
	"slices"
	"time"
)

// Phase is where a rule stands in its alert life cycle. A resolved alert is
// Inactive again, with State.ResolvedAt set.
type Phase int

const (
	// Inactive: the condition does not hold (or has never been evaluated).
	Inactive Phase = iota
	// Pending: the condition holds but not yet for the rule's For duration.
	Pending
	// Firing: the condition has held for For; a notification went out.
	Firing
)

// String returns "inactive", "pending" or "firing".
func (p Phase) String() string {
	switch p {
	case Inactive:
		return "inactive"
	case Pending:
		return "pending"
	case Firing:
		return "firing"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// parsePhase is the inverse of Phase.String for the three valid phases.
func parsePhase(s string) (Phase, error) {
	switch s {
	case "inactive":
		return Inactive, nil
	case "pending":
		return Pending, nil
	case "firing":
		return Firing, nil
	}
	return 0, fmt.Errorf("unknown phase %q", s)
}

// State is the persisted state of one rule. The zero State is an inactive
// rule that has never been evaluated.
type State struct {
	// Phase is the life-cycle phase.
	Phase Phase
	// ActiveSince is when the condition started to hold (set while Pending
	// or Firing, zero while Inactive).
	ActiveSince time.Time
	// FiredAt is when the rule last fired; it survives resolution so that
	// an inactive rule can say when it last fired.
	FiredAt time.Time
	// LastNotified is when Step last emitted EventFire or EventRepeat.
	LastNotified time.Time
	// ResolvedAt is when the last firing resolved; zero while Firing.
	ResolvedAt time.Time
	// LastEval is when Step last ran, whatever its outcome.
	LastEval time.Time
	// Repeats counts the EventRepeat notifications of the current firing.
	Repeats int
	// Err is the text of the evaluation error, "" when the last evaluation
	// succeeded. A non-empty Err marks the rule as erroring.
	Err string
	// Changes are the times the rule fired or resolved within its flap
	// window (Rule.Flap), oldest first. Kept only for a rule with flap
	// detection; empty otherwise.
	Changes []time.Time
	// FlappingSince is when the rule began to flap (EventFlapStart); zero
	// while it does not flap.
	FlappingSince time.Time
	// Seq counts the evaluations whose notifications were handed to the
	// outbox. Step does not touch it: the engine increments it with each
	// hand-off and stores it with the hand-off, so that after a crash it
	// can tell whether the outbox holds a newer state than the state file
	// (see the agent's engine). Records written before Seq existed decode
	// as 0.
	Seq uint64
}

// Event is a transition that the caller must act on.
type Event int

const (
	// EventFire: the rule entered Firing; send the alert.
	EventFire Event = iota + 1
	// EventRepeat: the rule is still firing and Repeat has elapsed since
	// the last notification; send the alert again.
	EventRepeat
	// EventResolve: a firing rule stopped holding; send a resolved
	// notification if the rule's OnResolve is set.
	EventResolve
	// EventErrorStarted: the evaluation started failing, or fails with a
	// different message than before; report State.Err.
	EventErrorStarted
	// EventErrorCleared: the evaluation succeeded after failing.
	EventErrorCleared
	// EventFlapStart: the rule fired or resolved Flap.Changes times within
	// Flap.Window; send one "flapping" notification. Fire, repeat and
	// resolve are not emitted until the flapping ends.
	EventFlapStart
	// EventFlapEnd: the flapping rule kept its phase for Flap.Settle. It
	// comes with EventFire when the rule is firing then (the alert stands)
	// and with EventResolve when it is not (the alert is over).
	EventFlapEnd
)

// String returns the event's name, e.g. "fire".
func (e Event) String() string {
	switch e {
	case EventFire:
		return "fire"
	case EventRepeat:
		return "repeat"
	case EventResolve:
		return "resolve"
	case EventErrorStarted:
		return "error_started"
	case EventErrorCleared:
		return "error_cleared"
	case EventFlapStart:
		return "flapping"
	case EventFlapEnd:
		return "flapping_ended"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

// Step advances the state s of rule r by one evaluation made at now: holds
// is the result of r.Holds and evalErr its error (when evalErr is not nil,
// holds is ignored). Step is pure: it reads no clock and touches nothing
// but its result. The transitions are listed in the package documentation.
//
// Step sets LastNotified (and FiredAt, Repeats) when it emits EventFire or
// EventRepeat, as if the notification had been sent. The caller must
// therefore persist the returned State only after the notification has
// been durably handed off (written to the outbox); a crash in between then
// repeats the notification instead of losing it.
func Step(r *Rule, s State, holds bool, evalErr error, now time.Time) (State, []Event) {
	var forDur, repeat time.Duration
	if r != nil {
		forDur, repeat = r.For, r.Repeat
	}
	var events []Event
	s.LastEval = now

	if evalErr != nil {
		// An erroring rule keeps its phase: it neither fires, repeats nor
		// resolves until its condition can be evaluated again.
		msg := evalErr.Error()
		if msg == "" {
			msg = "evaluation failed"
		}
		if msg != s.Err {
			s.Err = msg
			events = append(events, EventErrorStarted)
		}
		return s, events
	}
	if s.Err != "" {
		s.Err = ""
		events = append(events, EventErrorCleared)
	}

	// A wall clock that stepped backwards must not freeze the rule until it
	// catches up: restart the interval at now.
	if !s.ActiveSince.IsZero() && now.Before(s.ActiveSince) {
		s.ActiveSince = now
	}
	if !s.LastNotified.IsZero() && now.Before(s.LastNotified) {
		s.LastNotified = now
	}

	fire := func() {
		s.Phase = Firing
		s.FiredAt = now
		s.LastNotified = now
		s.ResolvedAt = time.Time{}
		s.Repeats = 0
		events = append(events, EventFire)
	}

	switch {
	case holds && s.Phase == Firing:
		if repeat > 0 && now.Sub(s.LastNotified) >= repeat {
			s.LastNotified = now
			s.Repeats++
			events = append(events, EventRepeat)
		}
	case holds && s.Phase == Pending:
		if now.Sub(s.ActiveSince) >= forDur {
			fire()
		}
	case holds: // Inactive, or a phase this version does not know
		s.ActiveSince = now
		if forDur <= 0 {
			fire()
		} else {
			s.Phase = Pending
		}
	case s.Phase == Firing:
		s.Phase = Inactive
		s.ActiveSince = time.Time{}
		s.ResolvedAt = now
		events = append(events, EventResolve)
	default: // Pending or Inactive, not holding
		s.Phase = Inactive
		s.ActiveSince = time.Time{}
	}
	if r != nil && r.Flap.Changes > 0 {
		s, events = flap(r.Flap, s, events, now)
	}
	return s, events
}

// flap applies flap detection to the outcome of one step: it records the
// step's fire or resolve in s.Changes, starts the flapping when the window
// holds f.Changes of them, holds back fire, repeat and resolve while the
// rule flaps, and ends the flapping once the rule kept its phase for
// f.Settle.
func flap(f Flap, s State, events []Event, now time.Time) (State, []Event) {
	changed := slices.ContainsFunc(events, func(e Event) bool { return e == EventFire || e == EventResolve })
	if changed {
		// Clip: the previous state may share the backing array.
		s.Changes = append(slices.Clip(s.Changes), now)
	}
	old := 0
	for old < len(s.Changes) && now.Sub(s.Changes[old]) >= f.Window {
		old++
	}
	s.Changes = slices.Clip(s.Changes[old:])
	if len(s.Changes) == 0 {
		s.Changes = nil
	}
	if s.FlappingSince.IsZero() {
		if len(s.Changes) < f.Changes {
			return s, events
		}
		s.FlappingSince = now
		return s, append(alertEventsOut(events), EventFlapStart)
	}
	events = alertEventsOut(events)
	if len(s.Changes) > 0 && now.Sub(s.Changes[len(s.Changes)-1]) < f.settle() {
		return s, events
	}
	// Settled: say where the rule stands, as a fresh alert or its end.
	s.FlappingSince = time.Time{}
	s.Changes = nil
	events = append(events, EventFlapEnd)
	if s.Phase == Firing {
		s.LastNotified = now
		s.Repeats = 0
		return s, append(events, EventFire)
	}
	return s, append(events, EventResolve)
}

// alertEventsOut returns events without fire, repeat and resolve, the
// events that notify.
func alertEventsOut(events []Event) []Event {
	return slices.DeleteFunc(events, func(e Event) bool {
		return e == EventFire || e == EventRepeat || e == EventResolve
	})
}
