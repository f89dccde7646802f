package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// checkRules checks every rule's expressions before anything runs: each
// reference must name a declared check or peer and a field its kind has, or
// a node, agent, outbox, credential or rule field; the condition must be a bool. Values are not
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
	ctx := rules.VarTypes{Checks: kinds, Peers: peers}.EvalContext()
	var diags hcl.Diagnostics
	for _, n := range sortedKeys(l.cfg.Node.Fields) {
		e := l.cfg.Node.Fields[n]
		diags = append(diags, refDiagnostics(e, rules.NodeRoots, kinds, peers)...)
	}
	for _, r := range l.cfg.Rules {
		if r.When != nil {
			d := refDiagnostics(r.When, rules.ConditionRoots, kinds, peers)
			diags = append(diags, d...)
			if !d.HasErrors() {
				diags = append(diags, conditionType(r.Name, "when condition", r.When, ctx)...)
			}
		}
		if r.ResolveIf != nil {
			d := refDiagnostics(r.ResolveIf, rules.ConditionRoots, kinds, peers)
			diags = append(diags, d...)
			if !d.HasErrors() {
				diags = append(diags, conditionType(r.Name, "on_resolve", r.ResolveIf, ctx)...)
			}
		}
		for _, e := range []hcl.Expression{r.Subject, r.Text, r.HTML} {
			if e != nil {
				diags = append(diags, refDiagnostics(e, rules.TemplateRoots, kinds, peers)...)
			}
		}
		for _, e := range r.Attach {
			diags = append(diags, refDiagnostics(e, rules.TemplateRoots, kinds, peers)...)
		}
	}
	return diags
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
			fields = rules.NodeFields
		case "agent":
			fields = keysOf(rules.AgentType.AttributeTypes())
		default:
			fields = keysOf(rules.RuleType.AttributeTypes())
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
		return typedTraversal(tr, rules.OutboxType)
	case "credential":
		return typedTraversal(tr, rules.CredentialsType)
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
