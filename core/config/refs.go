package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// Rule expressions may read these variables. node, check, peer, agent and
// outbox in conditions; rule too in templates.
var (
	conditionRoots = []string{"node", "check", "peer", "agent", "outbox"}
	templateRoots  = []string{"node", "check", "peer", "agent", "outbox", "rule"}
	agentFields    = map[string]cty.Type{"node": cty.String, "version": cty.String, "started": cty.String, "stopping": cty.Bool, "failing_rules": cty.Map(cty.String),
		"role": cty.String, "previous_role": cty.String, "role_since": cty.String}
	ruleFields = map[string]cty.Type{"name": cty.String, "severity": cty.String, "state": cty.String, "since": cty.String}
)

// OutboxStreakType is the type of each element of outbox.failing: one
// transport's current failure streak.
var OutboxStreakType = cty.Object(map[string]cty.Type{
	"failures":    cty.Number,
	"failing_for": cty.Number,
	"last_error":  cty.String,
})

// OutboxType is the type of the variable outbox that rules read: the
// agent's outbox and the health of its alerting channel. Durations are
// whole seconds, the unit of duration() and age().
var OutboxType = cty.Object(map[string]cty.Type{
	"pending":     cty.Number,
	"dead":        cty.Number,
	"oldest_age":  cty.Number,
	"failing_for": cty.Number,
	"failing":     cty.Map(OutboxStreakType),
	// The outbox's own health: storing notifications (a full disk).
	"store_failures":    cty.Number,
	"store_failing_for": cty.Number,
	"store_error":       cty.String,
})

// OutboxFact is what the variable outbox holds: the agent builds it from
// its outbox and its dispatcher's outcomes, `tocsin rules test` from a
// test's timeline. Value turns it into a value of OutboxType.
type OutboxFact struct {
	// Pending and Dead count the outbox's entries in each state.
	Pending, Dead int
	// OldestAge is how long the oldest pending entry has waited; zero
	// when none is pending.
	OldestAge time.Duration
	// Failing holds the transports whose last attempts failed, by name.
	Failing map[string]TransportStreak
	// StoreFailures counts the notifications that could not be written
	// to the outbox since the last write that succeeded (a full or
	// failing disk); StoreFailingFor is how long ago the first of them
	// failed, StoreError the last error. All zero while storing works.
	StoreFailures   int
	StoreFailingFor time.Duration
	StoreError      string
}

// TransportStreak is a transport's current run of failed attempts.
type TransportStreak struct {
	// Failures counts the failed attempts since the last success.
	Failures int
	// FailingFor is how long ago the first of them failed.
	FailingFor time.Duration
	// LastError is the last failure's error, as the dispatcher logs it.
	LastError string
}

// FailingFor returns the longest current streak of Failing, zero when no
// transport fails: outbox.failing_for.
func (f OutboxFact) FailingFor() time.Duration {
	var longest time.Duration
	for _, s := range f.Failing {
		longest = max(longest, s.FailingFor)
	}
	return longest
}

// Value returns f as a value of OutboxType.
func (f OutboxFact) Value() cty.Value {
	failing := cty.MapValEmpty(OutboxStreakType)
	if len(f.Failing) > 0 {
		m := make(map[string]cty.Value, len(f.Failing))
		for name, s := range f.Failing {
			m[name] = cty.ObjectVal(map[string]cty.Value{
				"failures":    cty.NumberIntVal(int64(max(s.Failures, 0))),
				"failing_for": seconds(s.FailingFor),
				"last_error":  cty.StringVal(s.LastError),
			})
		}
		failing = cty.MapVal(m)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"pending":     cty.NumberIntVal(int64(max(f.Pending, 0))),
		"dead":        cty.NumberIntVal(int64(max(f.Dead, 0))),
		"oldest_age":  seconds(f.OldestAge),
		"failing_for": seconds(f.FailingFor()),
		"failing":     failing,

		"store_failures":    cty.NumberIntVal(int64(max(f.StoreFailures, 0))),
		"store_failing_for": seconds(f.StoreFailingFor),
		"store_error":       cty.StringVal(f.StoreError),
	})
}

// seconds is d in whole seconds, never negative.
func seconds(d time.Duration) cty.Value {
	return cty.NumberIntVal(int64(max(d, 0) / time.Second))
}

// checkRules checks every rule's expressions before anything runs: each
// reference must name a declared check or peer and a field its kind has, or
// a node, agent, outbox or rule field; the condition must be a bool. Values are not
// known yet, so the expressions are evaluated over unknown values of the
// right types, which finds type errors without running a check.
func (l *loader) checkRules() hcl.Diagnostics {
	kinds := map[string]facts.Kind{}
	for _, c := range l.cfg.Checks {
		kinds[c.Name] = c.Spec.Kind
	}
	peers := map[string]bool{}
	for _, p := range l.cfg.Peers {
		peers[p.Name] = true
	}
	ctx := l.typedContext(kinds, peers)
	var diags hcl.Diagnostics
	for _, n := range sortedKeys(l.cfg.Node.Fields) {
		e := l.cfg.Node.Fields[n]
		diags = append(diags, refDiagnostics(e, []string{"check", "peer"}, kinds, peers)...)
	}
	for _, r := range l.cfg.Rules {
		if r.When != nil {
			d := refDiagnostics(r.When, conditionRoots, kinds, peers)
			diags = append(diags, d...)
			if !d.HasErrors() {
				diags = append(diags, conditionType(r.Name, "when condition", r.When, ctx)...)
			}
		}
		if r.ResolveIf != nil {
			d := refDiagnostics(r.ResolveIf, conditionRoots, kinds, peers)
			diags = append(diags, d...)
			if !d.HasErrors() {
				diags = append(diags, conditionType(r.Name, "on_resolve", r.ResolveIf, ctx)...)
			}
		}
		for _, e := range []hcl.Expression{r.Subject, r.Text, r.HTML} {
			if e != nil {
				diags = append(diags, refDiagnostics(e, templateRoots, kinds, peers)...)
			}
		}
		for _, e := range r.Attach {
			diags = append(diags, refDiagnostics(e, templateRoots, kinds, peers)...)
		}
	}
	return diags
}

// typedContext holds unknown values of the types the variables will have.
func (l *loader) typedContext(kinds map[string]facts.Kind, peers map[string]bool) *hcl.EvalContext {
	checkAttrs := map[string]cty.Value{}
	for name, k := range kinds {
		checkAttrs[name] = cty.UnknownVal(facts.ObjectType(k))
	}
	peerAttrs := map[string]cty.Value{}
	for name := range peers {
		peerAttrs[name] = cty.UnknownVal(facts.ObjectType(facts.KindPeer))
	}
	nodeAttrs := map[string]cty.Value{}
	for _, n := range NodeFields {
		nodeAttrs[n] = cty.DynamicVal
	}
	agentAttrs := map[string]cty.Value{}
	for n, t := range agentFields {
		agentAttrs[n] = cty.UnknownVal(t)
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"check":  objectOrEmptyVal(checkAttrs),
			"peer":   objectOrEmptyVal(peerAttrs),
			"node":   cty.ObjectVal(nodeAttrs),
			"agent":  cty.ObjectVal(agentAttrs),
			"outbox": cty.UnknownVal(OutboxType),
		},
		Functions: rules.Functions(time.Now),
	}
}

func objectOrEmptyVal(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// conditionType evaluates when over unknown values: type errors surface,
// and the result must be a bool.
func conditionType(rule, what string, when hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	v, diags := when.Value(ctx)
	if diags.HasErrors() {
		return diags
	}
	ty := v.Type()
	if ty == cty.Bool || ty == cty.DynamicPseudoType {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Condition is not a bool",
		Detail:   fmt.Sprintf("The %s of rule %q is a %s; it must be true or false, such as check.web.ok == false.", what, rule, ty.FriendlyName()),
		Subject:  when.Range().Ptr(),
	}}
}

// stringKey is an index key as a name: a known, non-null string; any
// other key is left to the evaluation.
func stringKey(k cty.Value) (string, bool) {
	if !k.IsKnown() || k.IsNull() || k.Type() != cty.String {
		return "", false
	}
	return k.AsString(), true
}

// refDiagnostics reports references in expr to variables that do not exist.
func refDiagnostics(expr hcl.Expression, roots []string, kinds map[string]facts.Kind, peers map[string]bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tr := range expr.Variables() {
		if d := checkTraversal(tr, roots, kinds, peers); d != nil {
			diags = append(diags, d)
		}
	}
	return diags
}

func checkTraversal(tr hcl.Traversal, roots []string, kinds map[string]facts.Kind, peers map[string]bool) *hcl.Diagnostic {
	root := tr.RootName()
	bad := func(summary, detail string) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: tr.SourceRange().Ptr()}
	}
	if !contains(roots, root) {
		detail := fmt.Sprintf("There is no variable %q here; rules read %s.", root, strings.Join(roots, ", "))
		if s := nameSuggestion(root, roots); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return bad("Unknown variable", detail)
	}
	step := func(i int) (string, bool) {
		if len(tr) <= i {
			return "", false
		}
		switch st := tr[i].(type) {
		case hcl.TraverseAttr:
			return st.Name, true
		case hcl.TraverseIndex:
			// check["web"] names the check as check.web does; a key
			// that is not a known string is left to the evaluation.
			return stringKey(st.Key)
		}
		return "", false
	}
	name, ok := step(1)
	if !ok {
		return nil
	}
	switch root {
	case "check", "peer":
		var kind facts.Kind
		found := false
		if root == "check" {
			kind, found = kinds[name]
		} else {
			kind, found = facts.KindPeer, peers[name]
		}
		if !found {
			// The names are listed only here: building the list for
			// every reference costs a config of thousands of rules over
			// a thousand checks hundreds of MB.
			var known []string
			if root == "check" {
				for n := range kinds {
					known = append(known, n)
				}
			} else {
				for n := range peers {
					known = append(known, n)
				}
			}
			sort.Strings(known)
			detail := fmt.Sprintf("No %s block is named %q.", root, name)
			if s := nameSuggestion(name, known); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			if len(known) > 0 {
				detail += fmt.Sprintf(" Declared: %s.", strings.Join(known, ", "))
			}
			return bad("Unknown "+root, detail)
		}
		field, ok := step(2)
		if !ok {
			return nil
		}
		ty := facts.ObjectType(kind)
		if ty.HasAttribute(field) {
			return nil
		}
		var fields []string
		for f := range ty.AttributeTypes() {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		detail := fmt.Sprintf("%s.%s (kind %s) has no field %q.", root, name, kind, field)
		if s := nameSuggestion(field, fields); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		detail += fmt.Sprintf(" Its fields: %s.", strings.Join(fields, ", "))
		return bad("Unknown fact", detail)
	case "node", "agent", "rule":
		var fields []string
		switch root {
		case "node":
			fields = NodeFields
		case "agent":
			fields = keysOf(agentFields)
		default:
			fields = keysOf(ruleFields)
		}
		if contains(fields, name) {
			return nil
		}
		detail := fmt.Sprintf("%s has no field %q.", root, name)
		if s := nameSuggestion(name, fields); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		detail += fmt.Sprintf(" Its fields: %s.", strings.Join(fields, ", "))
		return bad("Unknown fact", detail)
	case "outbox":
		return typedTraversal(tr, OutboxType)
	}
	return nil
}

// typedTraversal reports the first step of tr (after its root) that ty has
// no attribute for: objects have their attributes, maps any key. Steps it
// cannot judge statically (an index by an expression's value) end the
// check.
func typedTraversal(tr hcl.Traversal, ty cty.Type) *hcl.Diagnostic {
	path := tr.RootName()
	for _, step := range tr[1:] {
		var name string
		switch s := step.(type) {
		case hcl.TraverseAttr:
			name = s.Name
		case hcl.TraverseIndex:
			key, ok := stringKey(s.Key)
			if !ok {
				return nil
			}
			name = key
		default:
			return nil
		}
		switch {
		case ty.IsMapType():
			ty = ty.ElementType()
		case ty.IsObjectType() && ty.HasAttribute(name):
			ty = ty.AttributeType(name)
		case ty.IsObjectType():
			fields := keysOf(ty.AttributeTypes())
			detail := fmt.Sprintf("%s has no field %q.", path, name)
			if s := nameSuggestion(name, fields); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			detail += fmt.Sprintf(" Its fields: %s.", strings.Join(fields, ", "))
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown fact", Detail: detail, Subject: tr.SourceRange().Ptr()}
		default:
			return nil // a primitive: the evaluation reports it
		}
		path += "." + name
	}
	return nil
}

func keysOf(m map[string]cty.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]hcl.Expression) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
