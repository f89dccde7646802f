package rules

import (
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// fixedClock returns a clock that always reads t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// mustExpr parses src as an expression in file "rules.hcl" at line 1.
func mustExpr(t testing.TB, src string) hcl.Expression {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "rules.hcl", hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		t.Fatalf("parse %q: %s", src, diags.Error())
	}
	return expr
}

// mustAttr parses src as a configuration body in file "rules.hcl" and
// returns the expression of its attribute name.
func mustAttr(t testing.TB, src []byte, name string) hcl.Expression {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "rules.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %q: %s", src, diags.Error())
	}
	attr, ok := f.Body.(*hclsyntax.Body).Attributes[name]
	if !ok {
		t.Fatalf("%q has no attribute %s", src, name)
	}
	return attr.Expr
}

// mustTemplate parses src as a template in file "rules.hcl" at line 1.
func mustTemplate(t testing.TB, src string) hcl.Expression {
	t.Helper()
	expr, diags := hclsyntax.ParseTemplate([]byte(src), "rules.hcl", hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		t.Fatalf("parse template %q: %s", src, diags.Error())
	}
	return expr
}

// evalCtx returns an evaluation context with vars and Functions(clock t0).
func evalCtx(vars map[string]cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: vars, Functions: Functions(fixedClock(t0))}
}

// Facts is what the tests give rules to read: this node's facts
// (node.NAME), the checks (check.NAME) and the peers (peer.NAME).
type Facts struct {
	Node   map[string]cty.Value
	Checks map[string]facts.Fact
	Peers  map[string]facts.Fact
}

// Variables returns the evaluation variables node, check and peer, as
// Vars builds them.
func (f Facts) Variables() map[string]cty.Value {
	return map[string]cty.Value{
		"node":  objectOrEmpty(f.Node),
		"check": FactsObject(f.Checks),
		"peer":  FactsObject(f.Peers),
	}
}

// EvalContext returns the context rules are evaluated in: the variables of
// f and the functions of this package, with now as the clock.
func (f Facts) EvalContext(now func() time.Time) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: f.Variables(), Functions: Functions(now)}
}
