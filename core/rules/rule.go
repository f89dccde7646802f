package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Rule is one decoded `rule "NAME"` block. The config package fills it in;
// this package evaluates it. A Rule is not modified by evaluation and may be
// shared between goroutines.
type Rule struct {
	// Name is the block label, unique among rules; it keys the persisted
	// state.
	Name string
	// Schedule is the cron spec that says when the rule is evaluated (see
	// ParseSchedule).
	Schedule string
	// When is the condition: an expression that must evaluate to a known
	// bool.
	When hcl.Expression
	// For is how long When must hold before the rule fires; zero fires at
	// the first evaluation that holds.
	For time.Duration
	// Repeat is the interval at which a firing rule notifies again; zero
	// notifies once per firing.
	Repeat time.Duration
	// Notify names the contacts to notify.
	Notify []string
	// Severity is free text passed on to notifications (e.g. "critical").
	Severity string
	// Labels are the rule's own labels, which identify its alert to an
	// alerting system next to node, role and severity (sdk.Alert.Labels);
	// nil for none. Not to be modified.
	Labels map[string]string
	// Subject, Text and HTML are template expressions for the mail; HTML
	// may be nil. Render them with Render in the matching Mode.
	Subject, Text, HTML hcl.Expression
	// Attach are expressions that name files to attach (e.g. a log tail).
	Attach []hcl.Expression
	// OnResolve says whether a resolved notification is sent when a firing
	// rule stops holding.
	OnResolve bool
	// ResolveIf, when set, is evaluated when a firing rule stops holding
	// (OnResolve set): false ends the firing without a resolved
	// notification, because the situation changed shape rather than got
	// fixed (this node is no longer the primary, say). An error or any
	// other value sends the notification: an error never silences one.
	ResolveIf hcl.Expression
	// Flap is the rule's flap detection; the zero Flap has none.
	Flap Flap
	// DeclRange is the range of the block header, for messages.
	DeclRange hcl.Range

	cond  *condition // compiled When, set by Prepare
	roots []string   // the variables the expressions read, set by Compact
}

// Flap is flap detection, as Nagios and Icinga have it: a rule that keeps
// firing and resolving sends one "flapping" notification and then nothing
// until it has settled.
type Flap struct {
	// Changes is how many fires and resolves within Window make the rule
	// flap; zero turns flap detection off.
	Changes int
	// Window is how far back the changes are counted.
	Window time.Duration
	// Settle is how long a flapping rule must neither fire nor resolve
	// for its flapping to end; zero means Window.
	Settle time.Duration
}

// settle returns Settle, or Window when Settle is not set.
func (f Flap) settle() time.Duration {
	if f.Settle > 0 {
		return f.Settle
	}
	return f.Window
}

// Reads reports whether any of the rule's expressions (condition,
// templates, attachments) reads the variable root.
func (r *Rule) Reads(root string) bool {
	if r.roots != nil {
		return slices.Contains(r.roots, root)
	}
	exprs := append([]hcl.Expression{r.When, r.Subject, r.Text, r.HTML, r.ResolveIf}, r.Attach...)
	for _, x := range exprs {
		if x == nil {
			continue
		}
		for _, tr := range x.Variables() {
			if tr.RootName() == root {
				return true
			}
		}
	}
	return false
}

// Holds evaluates the rule's condition in ctx. The condition must produce a
// known, non-null bool; anything else, and any diagnostic from the
// evaluation, is an error whose text names the rule and the position
// (file:line:col) of the offending expression. Holds does not modify ctx
// and is safe for concurrent use with the same ctx. After Prepare, Holds
// computes common conditions without HCL's general evaluator, with the
// same results.
func (r *Rule) Holds(ctx *hcl.EvalContext) (bool, error) {
	if r == nil {
		return false, errors.New("evaluate rule: nil rule")
	}
	if r.When == nil {
		return false, fmt.Errorf("rule %q: %s: the rule has no when condition", r.Name, pos(r.DeclRange))
	}
	if holds, ok := r.fast(ctx); ok {
		return holds, nil
	}
	v, diags := r.When.Value(ctx)
	if diags.HasErrors() {
		return false, fmt.Errorf("rule %q: when: %w", r.Name, diagsError(diags, r.When.Range()))
	}
	v, _ = v.Unmark()
	switch {
	case !v.IsKnown():
		return false, fmt.Errorf("rule %q: when: %s: the condition's value is not known yet (it depends on a value that is unknown)", r.Name, pos(r.When.Range()))
	case v.IsNull():
		return false, fmt.Errorf("rule %q: when: %s: the condition is null; it must be true or false (use coalesce(..., false) for facts that may be missing)", r.Name, pos(r.When.Range()))
	case v.Type() != cty.Bool:
		return false, fmt.Errorf("rule %q: when: %s: the condition must be a bool, not %s", r.Name, pos(r.When.Range()), v.Type().FriendlyName())
	}
	return v.True(), nil
}

// pos formats the start of r as file:line:col.
func pos(r hcl.Range) string {
	name := r.Filename
	if name == "" {
		name = "<expression>"
	}
	return fmt.Sprintf("%s:%d:%d", name, r.Start.Line, r.Start.Column)
}

// diagsError turns the error diagnostics in diags into one error, each as
// "file:line:col: summary; detail". fallback is the position used by a
// diagnostic without a subject.
func diagsError(diags hcl.Diagnostics, fallback hcl.Range) error {
	var b strings.Builder
	n := 0
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if n > 0 {
			b.WriteString("; and ")
		}
		n++
		rng := fallback
		if d.Subject != nil {
			rng = *d.Subject
		}
		b.WriteString(pos(rng))
		b.WriteString(": ")
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(d.Detail)
		}
	}
	return errors.New(b.String())
}
