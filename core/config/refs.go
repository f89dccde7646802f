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

// Rule expressions may read these variables. node, check, peer and agent
// in conditions; rule too in templates.
var (
	conditionRoots = []string{"node", "check", "peer", "agent"}
	templateRoots  = []string{"node", "check", "peer", "agent", "rule"}
	agentFields    = map[string]cty.Type{"node": cty.String, "version": cty.String, "started": cty.String, "stopping": cty.Bool}
	ruleFields     = map[string]cty.Type{"name": cty.String, "severity": cty.String, "state": cty.String, "since": cty.String}
)

// checkRules checks every rule's expressions before anything runs: each
// reference must name a declared check or peer and a field its kind has, or
// a node, agent or rule field; the condition must be a bool. Values are not
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
				diags = append(diags, conditionType(r.Name, r.When, ctx)...)
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
			"check": objectOrEmptyVal(checkAttrs),
			"peer":  objectOrEmptyVal(peerAttrs),
			"node":  cty.ObjectVal(nodeAttrs),
			"agent": cty.ObjectVal(agentAttrs),
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
func conditionType(rule string, when hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
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
		Detail:   fmt.Sprintf("The when condition of rule %q is a %s; it must be true or false, such as check.web.ok == false.", rule, ty.FriendlyName()),
		Subject:  when.Range().Ptr(),
	}}
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
		if a, ok := tr[i].(hcl.TraverseAttr); ok {
			return a.Name, true
		}
		return "", false // an index: checked when evaluated
	}
	name, ok := step(1)
	if !ok {
		return nil
	}
	switch root {
	case "check", "peer":
		var known []string
		var kind facts.Kind
		found := false
		if root == "check" {
			for n := range kinds {
				known = append(known, n)
			}
			kind, found = kinds[name]
		} else {
			for n := range peers {
				known = append(known, n)
			}
			kind, found = facts.KindPeer, peers[name]
		}
		if !found {
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
