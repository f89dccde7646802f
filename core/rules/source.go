package rules

import (
	"bytes"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// A parsed HCL expression is a tree of small nodes, each with its source
// ranges. A configuration of 10,000 rules keeps about 25 MB of them, and
// because they were allocated among the parser's far larger garbage, they
// pin several times that in half-empty heap spans (measured: 28 MB live
// holding 99 MB of spans). The agent needs the trees rarely: conditions
// run compiled (see compile.go) and templates render only when a rule
// notifies. sourceExpr keeps an expression as its place in the file's
// bytes, which the configuration keeps anyway, and parses it again when
// it is needed: the same bytes at the same position give the same tree,
// ranges included, so values and diagnostics are those of the original.

// sourceExpr is an hcl.Expression kept as its source text. It is safe for
// concurrent use.
type sourceExpr struct {
	src   []byte // the whole file the expression was parsed from
	end   int    // where its text ends in src: rng.End, or past a heredoc's newline
	rng   hcl.Range
	start hcl.Range
	// keep caches the tree after its first parse: for a condition that the
	// fast path hands to HCL at every evaluation. Templates, rendered only
	// for a notification, are parsed each time instead.
	keep bool
	tree atomic.Pointer[hclsyntax.Expression]
}

// fromSource returns expr kept as its text in src, the bytes of the file
// expr was parsed from; keep says whether the tree is cached once needed.
// It returns expr itself when expr is not native HCL syntax or when
// parsing its text again does not give the same range (which would make
// positions in messages differ).
func fromSource(expr hcl.Expression, src []byte, keep bool) hcl.Expression {
	if _, ok := expr.(hclsyntax.Expression); !ok || expr == nil {
		return expr
	}
	rng := expr.Range()
	if rng.Start.Byte < 0 || rng.End.Byte > len(src) || rng.Start.Byte >= rng.End.Byte {
		return expr
	}
	// A heredoc's range ends at its closing marker, but the marker
	// closes it only with the newline that follows.
	ends := []int{rng.End.Byte}
	if rest := src[rng.End.Byte:]; bytes.HasPrefix(rest, []byte("\r\n")) {
		ends = append(ends, rng.End.Byte+2)
	} else if bytes.HasPrefix(rest, []byte("\n")) {
		ends = append(ends, rng.End.Byte+1)
	}
	for _, end := range ends {
		e := &sourceExpr{src: src, end: end, rng: rng, start: expr.StartRange(), keep: keep}
		again, diags := e.parse()
		if !diags.HasErrors() && again.Range() == rng && again.StartRange() == e.start &&
			len(again.Variables()) == len(expr.Variables()) {
			return e
		}
	}
	return expr
}

// parse parses the expression's text at its position in the file.
func (e *sourceExpr) parse() (hclsyntax.Expression, hcl.Diagnostics) {
	return hclsyntax.ParseExpression(e.src[e.rng.Start.Byte:e.end], e.rng.Filename, e.rng.Start)
}

// syntax returns the expression's tree, from the cache when it is kept.
func (e *sourceExpr) syntax() hcl.Expression {
	if t := e.tree.Load(); t != nil {
		return *t
	}
	t, diags := e.parse()
	if diags.HasErrors() {
		// fromSource parsed this text before; only changed bytes get
		// here. Evaluating says so rather than guessing a value.
		return &brokenExpr{rng: e.rng, diags: diags}
	}
	if e.keep {
		e.tree.Store(&t)
	}
	return t
}

// Value implements hcl.Expression.
func (e *sourceExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return e.syntax().Value(ctx)
}

// Variables implements hcl.Expression.
func (e *sourceExpr) Variables() []hcl.Traversal { return e.syntax().Variables() }

// Range implements hcl.Expression.
func (e *sourceExpr) Range() hcl.Range { return e.rng }

// StartRange implements hcl.Expression.
func (e *sourceExpr) StartRange() hcl.Range { return e.start }

// UnwrapExpression lets hcl.UnwrapExpression (and so hcl.ExprList,
// hcl.AbsTraversalForExpr and the like) see the tree.
func (e *sourceExpr) UnwrapExpression() hcl.Expression { return e.syntax() }

// brokenExpr stands for a sourceExpr whose text no longer parses.
type brokenExpr struct {
	rng   hcl.Range
	diags hcl.Diagnostics
}

func (b *brokenExpr) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return cty.DynamicVal, b.diags
}
func (b *brokenExpr) Variables() []hcl.Traversal { return nil }
func (b *brokenExpr) Range() hcl.Range           { return b.rng }
func (b *brokenExpr) StartRange() hcl.Range      { return b.rng }

// Compact keeps the rule's expressions as their text in src, the bytes of
// the file the rule was declared in, instead of their syntax trees (see
// sourceExpr); the rule evaluates and renders as before. Expressions from
// another file, or that are not native HCL syntax (the rule library's
// wrapped ones), stay as they are. Reads answers from the variables
// Compact records, so assign no other expression afterwards. Call it
// before Prepare, before the rule is shared between goroutines.
func (r *Rule) Compact(src []byte) {
	if r == nil || src == nil {
		return
	}
	roots := []string{}
	for _, x := range append([]hcl.Expression{r.When, r.Subject, r.Text, r.HTML, r.ResolveIf}, r.Attach...) {
		if x == nil {
			continue
		}
		for _, tr := range x.Variables() {
			if !slices.Contains(roots, tr.RootName()) {
				roots = append(roots, tr.RootName())
			}
		}
	}
	r.roots = slices.Clip(roots)
	compact := func(x hcl.Expression, keep bool) hcl.Expression {
		if x == nil || x.Range().Filename != r.DeclRange.Filename {
			return x
		}
		return fromSource(x, src, keep)
	}
	r.When = compact(r.When, true)
	r.Subject = compact(r.Subject, false)
	r.Text = compact(r.Text, false)
	r.HTML = compact(r.HTML, false)
	r.ResolveIf = compact(r.ResolveIf, false)
	for i, a := range r.Attach {
		r.Attach[i] = compact(a, false)
	}
}
