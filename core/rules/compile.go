package rules

import (
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/customdecode"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// This file holds the fast path of Rule.Holds. HCL's evaluator is general
// and allocates at every step (operators are cty function calls with type
// conversions and refinements). Most conditions are made of attribute
// traversals, literals, !, &&, ||, comparisons and function calls on values
// of the right type, and for those the result can be computed directly.
//
// The fast path never decides anything HCL would decide differently: each
// compiled node either returns exactly the value HCL's evaluator would
// return, or reports that it cannot (ok == false) whenever a value is
// unknown, null, marked, of another type than the operation expects
// (where HCL would convert), or an error occurs. Then Holds evaluates the
// whole expression again with HCL, which also produces the diagnostics.
// Nodes that are not compiled (conditionals, arithmetic, for expressions,
// try/can, ...) are evaluated by HCL inside the fast path.

// condition is a compiled when expression.
type condition struct {
	expr hcl.Expression // the expression it was compiled from
	eval node
}

// node evaluates a compiled expression. ok == false means the fast path
// cannot give the answer and the caller must fall back to HCL.
type node func(ctx *hcl.EvalContext) (v cty.Value, ok bool)

// Prepare compiles the rule's condition for fast evaluation by Holds. Call
// it once after the Rule is built and before it is shared between
// goroutines; Holds works without it, more slowly. Assigning another When
// afterwards makes Holds ignore the compiled form until Prepare runs again.
func (r *Rule) Prepare() {
	if r == nil || r.When == nil {
		return
	}
	if se, ok := r.When.(*sourceExpr); ok {
		// Compile a tree of its own and keep none of it: the parts HCL
		// must evaluate are kept as their text too.
		tree, diags := se.parse()
		if diags.HasErrors() {
			r.cond = nil
			return
		}
		keep := func(x hcl.Expression) hcl.Expression { return fromSource(x, se.src, true) }
		r.cond = &condition{expr: r.When, eval: compile(tree, keep)}
		return
	}
	if _, ok := r.When.(hclsyntax.Expression); !ok {
		r.cond = nil
		return
	}
	r.cond = &condition{expr: r.When, eval: compile(r.When, func(x hcl.Expression) hcl.Expression { return x })}
}

// fast evaluates the compiled condition; ok is false when Holds must use
// HCL.
func (r *Rule) fast(ctx *hcl.EvalContext) (holds, ok bool) {
	c := r.cond
	if c == nil || c.expr != r.When {
		return false, false
	}
	v, ok := c.eval(ctx)
	if !ok || !plain(v) || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// plain reports whether v is known, not null and not marked (at its top
// level): a value the fast path can compute with.
func plain(v cty.Value) bool {
	return v != cty.NilVal && v.IsKnown() && !v.IsNull() && !v.IsMarked()
}

// comparable reports whether v is wholly known and holds no marks, so
// that Equals gives a known, unmarked answer. Nulls are comparable.
func comparable(v cty.Value) bool {
	if v == cty.NilVal || v.IsMarked() {
		return false
	}
	if v.Type().IsPrimitiveType() {
		return v.IsKnown()
	}
	return v.IsWhollyKnown() && !v.ContainsMarked()
}

// compile returns the node for expr. keep gives what a node holds on to
// of a part of expr that HCL evaluates.
func compile(expr hcl.Expression, keep func(hcl.Expression) hcl.Expression) node {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return constant(e.Val)
	case *hclsyntax.ParenthesesExpr:
		return compile(e.Expression, keep)
	case *hclsyntax.TemplateExpr:
		if e.IsStringLiteral() {
			if v, diags := e.Value(nil); !diags.HasErrors() && plain(v) {
				return constant(v)
			}
		}
	case *hclsyntax.ScopeTraversalExpr:
		if n := compileTraversal(e.Traversal); n != nil {
			return n
		}
	case *hclsyntax.UnaryOpExpr:
		if e.Op == hclsyntax.OpLogicalNot {
			operand := compile(e.Val, keep)
			return func(ctx *hcl.EvalContext) (cty.Value, bool) {
				v, ok := operand(ctx)
				if !ok || !plain(v) || v.Type() != cty.Bool {
					return cty.NilVal, false
				}
				return cty.BoolVal(!v.True()), true
			}
		}
	case *hclsyntax.BinaryOpExpr:
		if n := compileBinary(e, keep); n != nil {
			return n
		}
	case *hclsyntax.FunctionCallExpr:
		if !e.ExpandFinal {
			return compileCall(e, keep)
		}
	}
	return delegate(keep(expr))
}

// constant is a node that always returns v.
func constant(v cty.Value) node {
	return func(*hcl.EvalContext) (cty.Value, bool) { return v, true }
}

// delegate is a node that evaluates expr with HCL; any error diagnostic
// makes it not ok.
func delegate(expr hcl.Expression) node {
	return func(ctx *hcl.EvalContext) (cty.Value, bool) {
		v, diags := expr.Value(ctx)
		if diags.HasErrors() {
			return cty.NilVal, false
		}
		return v, true
	}
}

// compileTraversal compiles root.attr.attr...; other steps (indexes,
// splats) return nil and are left to HCL.
func compileTraversal(t hcl.Traversal) node {
	if len(t) == 0 {
		return nil
	}
	root, ok := t[0].(hcl.TraverseRoot)
	if !ok {
		return nil
	}
	attrs := make([]string, 0, len(t)-1)
	for _, step := range t[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			return nil
		}
		// cty normalizes attribute names (NFC) at every lookup;
		// normalized once here, the check below needs no more.
		attrs = append(attrs, cty.NormalizeString(a.Name))
	}
	name := root.Name
	return func(ctx *hcl.EvalContext) (cty.Value, bool) {
		v, found := lookupVar(ctx, name)
		if !found {
			return cty.NilVal, false
		}
		for _, a := range attrs {
			// hcl.GetAttr also reads maps; those, like unknown, null and
			// marked values, are left to HCL.
			if !plain(v) {
				return cty.NilVal, false
			}
			ty := v.Type()
			if !ty.IsObjectType() {
				return cty.NilVal, false
			}
			if _, ok := ty.AttributeTypes()[a]; !ok {
				return cty.NilVal, false
			}
			v = v.GetAttr(a)
		}
		return v, true
	}
}

// lookupVar finds a variable the way hcl.Traversal.TraverseAbs does:
// the nearest context that has a variables map and the name.
func lookupVar(ctx *hcl.EvalContext, name string) (cty.Value, bool) {
	for c := ctx; c != nil; c = c.Parent() {
		if c.Variables == nil {
			continue
		}
		if v, ok := c.Variables[name]; ok {
			return v, true
		}
	}
	return cty.NilVal, false
}

// compileBinary compiles logical, equality and comparison operators;
// others (arithmetic) return nil and are left to HCL.
func compileBinary(e *hclsyntax.BinaryOpExpr, keep func(hcl.Expression) hcl.Expression) node {
	var op func(l, r cty.Value) (cty.Value, bool)
	switch e.Op {
	case hclsyntax.OpLogicalAnd, hclsyntax.OpLogicalOr:
		and := e.Op == hclsyntax.OpLogicalAnd
		op = func(l, r cty.Value) (cty.Value, bool) {
			if l.Type() != cty.Bool || r.Type() != cty.Bool {
				return cty.NilVal, false
			}
			if and {
				return cty.BoolVal(l.True() && r.True()), true
			}
			return cty.BoolVal(l.True() || r.True()), true
		}
	case hclsyntax.OpEqual, hclsyntax.OpNotEqual:
		// HCL passes the operands unconverted to stdlib.Equal, which is
		// Value.Equals.
		eq := e.Op == hclsyntax.OpEqual
		op = func(l, r cty.Value) (cty.Value, bool) {
			if !comparable(l) || !comparable(r) {
				return cty.NilVal, false
			}
			res := l.Equals(r)
			if !plain(res) {
				return cty.NilVal, false
			}
			if !eq {
				res = res.Not()
			}
			return res, true
		}
	case hclsyntax.OpGreaterThan, hclsyntax.OpGreaterThanOrEqual, hclsyntax.OpLessThan, hclsyntax.OpLessThanOrEqual:
		cmp := map[*hclsyntax.Operation]func(a, b cty.Value) cty.Value{
			hclsyntax.OpGreaterThan:        cty.Value.GreaterThan,
			hclsyntax.OpGreaterThanOrEqual: cty.Value.GreaterThanOrEqualTo,
			hclsyntax.OpLessThan:           cty.Value.LessThan,
			hclsyntax.OpLessThanOrEqual:    cty.Value.LessThanOrEqualTo,
		}[e.Op]
		op = func(l, r cty.Value) (cty.Value, bool) {
			if l.Type() != cty.Number || r.Type() != cty.Number {
				return cty.NilVal, false
			}
			res := cmp(l, r)
			return res, plain(res)
		}
	default:
		return nil
	}
	lhs, rhs := compile(e.LHS, keep), compile(e.RHS, keep)
	equality := e.Op == hclsyntax.OpEqual || e.Op == hclsyntax.OpNotEqual
	return func(ctx *hcl.EvalContext) (cty.Value, bool) {
		l, ok := lhs(ctx)
		if !ok {
			return cty.NilVal, false
		}
		r, ok := rhs(ctx)
		if !ok {
			return cty.NilVal, false
		}
		// Equality is defined on nulls; everything else needs plain values.
		if !equality && (!plain(l) || !plain(r)) {
			return cty.NilVal, false
		}
		return op(l, r)
	}
}

// callInfo caches a function's parameters, which Function.Params copies
// on every call.
type callInfo struct {
	f        function.Function
	params   []function.Parameter
	varParam *function.Parameter
	custom   bool // a parameter is decoded from the expression (try, can)
}

// compileCall compiles a function call without a final "...".
func compileCall(e *hclsyntax.FunctionCallExpr, keep func(hcl.Expression) hcl.Expression) node {
	args := make([]node, len(e.Args))
	for i, a := range e.Args {
		args[i] = compile(a, keep)
	}
	name := e.Name
	// duration("literal") is a constant: compute it once, and use it when
	// the context's duration is this package's.
	var folded cty.Value
	if e.Name == "duration" && len(e.Args) == 1 {
		if t, ok := e.Args[0].(*hclsyntax.TemplateExpr); ok && t.IsStringLiteral() {
			if lit, diags := t.Value(nil); !diags.HasErrors() && plain(lit) && lit.Type() == cty.String {
				if v, err := durationFunc.Call([]cty.Value{lit}); err == nil {
					folded = v
				}
			}
		}
	}
	slow := delegate(keep(e))
	var cache atomic.Pointer[callInfo]
	return func(ctx *hcl.EvalContext) (cty.Value, bool) {
		f, found := lookupFunc(ctx, name)
		if !found {
			return cty.NilVal, false
		}
		if folded != cty.NilVal && f == durationFunc {
			return folded, true
		}
		if f == stdlib.CoalesceFunc {
			return coalesce(ctx, args)
		}
		info := cache.Load()
		if info == nil || info.f != f {
			info = &callInfo{f: f, params: f.Params(), varParam: f.VarParam()}
			for _, p := range info.params {
				info.custom = info.custom || customdecode.CustomExpressionDecoderForType(p.Type) != nil
			}
			if vp := info.varParam; vp != nil {
				info.custom = info.custom || customdecode.CustomExpressionDecoderForType(vp.Type) != nil
			}
			cache.Store(info)
		}
		if info.custom {
			return slow(ctx)
		}
		if len(args) < len(info.params) || (info.varParam == nil && len(args) > len(info.params)) {
			return cty.NilVal, false
		}
		vals := make([]cty.Value, len(args))
		for i, a := range args {
			v, ok := a(ctx)
			if !ok || !plain(v) {
				return cty.NilVal, false
			}
			p := info.varParam
			if i < len(info.params) {
				p = &info.params[i]
			}
			// HCL converts arguments to the parameter type; only a value
			// that already has it is passed on here.
			if p.Type != cty.DynamicPseudoType && !v.Type().Equals(p.Type) {
				return cty.NilVal, false
			}
			vals[i] = v
		}
		res, err := f.Call(vals)
		if err != nil || res == cty.NilVal {
			return cty.NilVal, false
		}
		return res, true
	}
}

// coalesce computes coalesce(args...) where every argument is a known,
// unmarked value of one primitive type, nulls included: the first that
// is not null, which is what cty's coalesce returns for such arguments.
// Facts that may be missing are read that way (coalesce(check.x.size,
// 0)), and their nulls would otherwise send the whole condition to HCL.
// Every argument is evaluated, as HCL does, so that an error in any of
// them leaves the answer to HCL.
func coalesce(ctx *hcl.EvalContext, args []node) (cty.Value, bool) {
	if len(args) == 0 {
		return cty.NilVal, false
	}
	var ty cty.Type
	res := cty.NilVal
	for i, a := range args {
		v, ok := a(ctx)
		if !ok || v == cty.NilVal || !v.IsKnown() || v.IsMarked() || !v.Type().IsPrimitiveType() {
			return cty.NilVal, false
		}
		if i == 0 {
			ty = v.Type()
		} else if !v.Type().Equals(ty) {
			return cty.NilVal, false
		}
		if res == cty.NilVal && !v.IsNull() {
			res = v
		}
	}
	return res, res != cty.NilVal
}

// lookupFunc finds a function the way hclsyntax.FunctionCallExpr does.
func lookupFunc(ctx *hcl.EvalContext, name string) (function.Function, bool) {
	for c := ctx; c != nil; c = c.Parent() {
		if c.Functions == nil {
			continue
		}
		if f, ok := c.Functions[name]; ok {
			return f, true
		}
	}
	return function.Function{}, false
}
