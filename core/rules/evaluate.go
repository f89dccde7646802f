package rules

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// EvalNode evaluates the node block's expressions (which may read checks
// and peers) into node facts. A field that fails to evaluate is null and
// its error is returned, joined with the others; the other fields are kept.
func EvalNode(fields map[string]hcl.Expression, checks, peers map[string]facts.Fact, fns map[string]function.Function) (map[string]cty.Value, error) {
	if len(fields) == 0 {
		return map[string]cty.Value{}, nil
	}
	return Vars{Check: FactsObject(checks), Peer: FactsObject(peers)}.EvalNode(fields, fns)
}

// Notification is what a rule has to say after an evaluation: that it
// fired, fires again, or resolved.
type Notification struct {
	Rule     string
	Event    Event
	Severity string
	Contacts []string
	Subject  string
	Text     string
	HTML     string
	// Attach holds the paths of files to attach.
	Attach []string
	// At is the evaluation time.
	At time.Time
	// Since is when the condition began to hold (for a resolve, the firing
	// that ended; for flapping, the first change counted): the templates'
	// rule.since. Zero when not known.
	Since time.Time
	// Labels are the rule's own labels (Rule.Labels), shared with it.
	Labels map[string]string
}

// Result is the outcome of evaluating one rule once.
type Result struct {
	State  State
	Events []Event
	// Notifications are rendered for EventFire, EventRepeat,
	// EventFlapStart and, when the rule has OnResolve, EventResolve.
	Notifications []Notification
	// Err is the evaluation error, if any (also in State.Err).
	Err error
}

// Evaluate evaluates r at now in ctx, steps its state from prev, and
// renders the notifications the step calls for. Templates see the
// variables of ctx plus rule (name, severity, state: "firing",
// "resolved" or "flapping", since: when the condition began to hold, or
// for "flapping" the first change counted, RFC 3339). A
// template that fails to render still yields a notification, with the
// error in its text, so an alert is never silenced by its own template.
func Evaluate(r *Rule, prev State, ctx *hcl.EvalContext, now time.Time) Result {
	holds, err := r.Holds(ctx)
	st, events := Step(r, prev, holds, err, now)
	res := Result{State: st, Events: events, Err: err}
	for _, e := range events {
		switch {
		case e == EventFire, e == EventRepeat, e == EventFlapStart, e == EventResolve && r.OnResolve && r.resolveNotifies(ctx):
			res.Notifications = append(res.Notifications, render(r, prev, st, e, ctx, now))
		}
	}
	return res
}

// resolveNotifies reports whether a resolve of r is notified: unless
// ResolveIf evaluates to false in ctx.
func (r *Rule) resolveNotifies(ctx *hcl.EvalContext) bool {
	if r.ResolveIf == nil {
		return true
	}
	v, diags := r.ResolveIf.Value(ctx)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return true
	}
	v, _ = v.Unmark()
	return v.Type() != cty.Bool || v.True()
}

func render(r *Rule, prev, st State, e Event, ctx *hcl.EvalContext, now time.Time) Notification {
	state := "firing"
	since := st.ActiveSince
	switch e {
	case EventResolve:
		state = "resolved"
		since = prev.ActiveSince
	case EventFlapStart:
		state = "flapping"
		since = st.Changes[0]
	}
	sinceVal := cty.NullVal(cty.String)
	if !since.IsZero() {
		sinceVal = cty.StringVal(since.UTC().Format(time.RFC3339))
	}
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{"rule": cty.ObjectVal(map[string]cty.Value{
		"name":     cty.StringVal(r.Name),
		"severity": cty.StringVal(r.Severity),
		"state":    cty.StringVal(state),
		"since":    sinceVal,
	})}
	n := Notification{Rule: r.Name, Event: e, Severity: r.Severity, Contacts: r.Notify, At: now, Since: since, Labels: r.Labels}
	var problems []string
	renderTo := func(expr hcl.Expression, mode Mode, dst *string) {
		if expr == nil {
			return
		}
		s, err := Render(expr, child, mode)
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		*dst = s
	}
	renderTo(r.Subject, ModeSubject, &n.Subject)
	renderTo(r.Text, ModeText, &n.Text)
	renderTo(r.HTML, ModeHTML, &n.HTML)
	for _, a := range r.Attach {
		v, diags := a.Value(child)
		if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			problems = append(problems, fmt.Sprintf("attach at %s is not a file path", pos(a.Range())))
			continue
		}
		n.Attach = append(n.Attach, v.AsString())
	}
	if n.Subject == "" {
		n.Subject = fmt.Sprintf("[%s] %s %s", r.Severity, r.Name, state)
	}
	switch e {
	case EventResolve:
		n.Subject = "Resolved: " + n.Subject
	case EventFlapStart:
		n.Subject = "Flapping: " + n.Subject
		n.Text = flappingText(r.Flap, st, n.Text, len(problems) > 0)
		problems = nil
	}
	if len(problems) > 0 {
		n.Text += "\n\nTocsin could not render part of this notification:\n"
		for _, p := range problems {
			n.Text += "- " + p + "\n"
		}
	}
	return n
}

// flappingText is the text of a flapping notification: what flapping
// means and when the next word comes, then the rule's own text, unless
// it could not be rendered (it describes the firing alert, and the rule
// may just have resolved).
func flappingText(f Flap, st State, text string, broken bool) string {
	first := st.Changes[0].UTC().Format(time.RFC3339)
	s := fmt.Sprintf("This alert has fired or resolved %d times since %s: it is flapping. "+
		"Nothing more is sent about it until it has neither fired nor resolved for %s; "+
		"then you get the alert again if it still holds, or its end if it does not.",
		len(st.Changes), first, inWords(f.settle()))
	if broken || text == "" {
		return s + "\n"
	}
	return s + "\n\nThe alert:\n\n" + text
}

// inWords puts d in words: "1 hour", "30 minutes", "90 seconds"; a
// duration that is no whole number of seconds as Go writes it.
func inWords(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d <= 0 || d%u.d != 0 {
			continue
		}
		if n := d / u.d; n != 1 {
			return fmt.Sprintf("%d %ss", n, u.name)
		}
		return "1 " + u.name
	}
	return d.String()
}
