package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// diffVars are facts of every awkward kind: nulls, unknowns, marks, maps,
// numbers as strings, nested collections.
func diffVars() map[string]cty.Value {
	return map[string]cty.Value{
		"check": cty.ObjectVal(map[string]cty.Value{
			"a": cty.ObjectVal(map[string]cty.Value{
				"ok": cty.True, "latency": cty.NumberFloatVal(0.7), "error": cty.StringVal(""),
				"observed": cty.StringVal("2025-06-01T07:00:00Z"), "status": cty.NumberIntVal(200),
			}),
			"b": cty.ObjectVal(map[string]cty.Value{
				"ok": cty.False, "latency": cty.NumberFloatVal(0.1), "error": cty.StringVal("refused"),
				"observed": cty.StringVal("2025-05-30T07:00:00Z"), "status": cty.NumberIntVal(503),
			}),
			"n": cty.ObjectVal(map[string]cty.Value{
				"ok": cty.NullVal(cty.Bool), "latency": cty.NullVal(cty.Number), "error": cty.NullVal(cty.String),
				"observed": cty.NullVal(cty.String), "status": cty.NullVal(cty.Number),
			}),
			"u": cty.ObjectVal(map[string]cty.Value{
				"ok": cty.UnknownVal(cty.Bool), "latency": cty.UnknownVal(cty.Number), "error": cty.UnknownVal(cty.String),
				"observed": cty.UnknownVal(cty.String), "status": cty.UnknownVal(cty.Number),
			}),
			"m": cty.ObjectVal(map[string]cty.Value{
				"ok": cty.True.Mark("sensitive"), "latency": cty.NumberFloatVal(0.9).Mark("sensitive"),
				"error": cty.StringVal("x").Mark("sensitive"), "observed": cty.StringVal("2025-06-01T07:00:00Z").Mark("sensitive"),
				"status": cty.NumberIntVal(500).Mark("sensitive"),
			}),
			"s": cty.ObjectVal(map[string]cty.Value{ // strings where numbers and bools are expected
				"ok": cty.StringVal("true"), "latency": cty.StringVal("0.5"), "error": cty.NumberIntVal(1),
				"observed": cty.NumberIntVal(0), "status": cty.StringVal("200"),
			}),
		}),
		"mapfacts":   cty.MapVal(map[string]cty.Value{"x": cty.StringVal("1"), "y": cty.StringVal("2")}),
		"nullobj":    cty.NullVal(cty.Object(map[string]cty.Type{"ok": cty.Bool})),
		"unknownobj": cty.UnknownVal(cty.Object(map[string]cty.Type{"ok": cty.Bool})),
		"markedobj":  cty.ObjectVal(map[string]cty.Value{"ok": cty.True}).Mark("sensitive"),
		"list":       cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
		"tuple":      cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.NumberIntVal(1)}),
		"flag":       cty.True,
		"dyn":        cty.DynamicVal,
		"node":       cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal("4.2")}),
		"peer": cty.ObjectVal(map[string]cty.Value{
			"primary": cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal("4.1")}),
		}),
	}
}

// sameAsHCL checks that the compiled form of src, when it answers, gives
// exactly HCL's value, and that Holds gives the same answer and error with
// and without Prepare.
func sameAsHCL(t *testing.T, src string, ctx *hcl.EvalContext) (fastAnswered bool) {
	t.Helper()
	expr := mustExpr(t, src)
	want, diags := expr.Value(ctx)
	got, ok := compile(expr, func(x hcl.Expression) hcl.Expression { return x })(ctx)
	if ok {
		if diags.HasErrors() {
			t.Fatalf("%s: fast path answered %#v where HCL fails: %s", src, got, diags.Error())
		}
		if !got.RawEquals(want) {
			t.Fatalf("%s: fast path %#v, HCL %#v", src, got, want)
		}
	}
	slow := &Rule{Name: "r", When: expr}
	fast := &Rule{Name: "r", When: expr}
	fast.Prepare()
	h1, err1 := slow.Holds(ctx)
	h2, err2 := fast.Holds(ctx)
	if h1 != h2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Fatalf("%s: Holds %v, %v unprepared; %v, %v prepared", src, h1, err1, h2, err2)
	}
	sameCompacted(t, src, ctx)
	return ok
}

// sameCompacted checks that a rule whose condition src sits in a file
// holds the same, with the same error (file:line:col included), before
// and after Compact, prepared or not, at its first evaluation and later
// ones (when the kept tree is reused).
func sameCompacted(t *testing.T, src string, ctx *hcl.EvalContext) {
	t.Helper()
	file := []byte("# a rule\nrule_when = " + src + "\n")
	when := mustAttr(t, file, "rule_when")
	orig := &Rule{Name: "r", When: when, DeclRange: when.Range()}
	h1, err1 := orig.Holds(ctx)
	for _, prepare := range []bool{false, true} {
		c := &Rule{Name: "r", When: mustAttr(t, file, "rule_when"), DeclRange: when.Range()}
		c.Compact(file)
		if _, ok := c.When.(*sourceExpr); !ok {
			t.Fatalf("%s: Compact kept the tree (%T)", src, c.When)
		}
		if prepare {
			c.Prepare()
		}
		for range 2 {
			h2, err2 := c.Holds(ctx)
			if h1 != h2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("%s: Holds %v, %v before Compact; %v, %v after (prepared %v)", src, h1, err1, h2, err2, prepare)
			}
		}
	}
}

func TestPrepare_SameAsHCL(t *testing.T) {
	ctx := evalCtx(diffVars())
	for _, src := range []string{
		// the happy path
		`check.a.ok`, `!check.b.ok`, `check.a.ok && !check.b.ok`, `check.a.ok || check.b.ok`,
		`check.a.latency > 0.5`, `check.a.latency >= 0.7`, `check.a.latency < 0.7`, `check.b.latency <= 0.1`,
		`check.a.status == 200`, `check.a.status != 200`, `check.b.error != ""`, `check.a.error == ""`,
		`peer.primary.version != node.version`, `(check.a.ok)`, `!(check.a.ok && check.b.ok)`,
		`age(check.a.observed) > duration("30m")`, `age(check.b.observed) > duration("1d")`,
		`duration("24h") == 86400`, `length(check.b.error) > 0`, `lower(check.b.error) == "refused"`,
		`contains(list, "a")`, `flag`, `true`, `false`, `1 == 1`, `"a" == "a"`,
		// type mismatches HCL converts or rejects
		`check.s.ok`, `check.s.ok && true`, `!check.s.ok`, `check.s.latency > 0.4`, `check.s.status == 200`,
		`check.s.status == "200"`, `check.a.status == "200"`, `"1" > 0`, `1 && true`, `check.a.latency`,
		`age(check.s.observed) > 0`, `length(check.s.error) > 0`, `duration(5) > 0`,
		// nulls
		`check.n.ok`, `!check.n.ok`, `check.n.ok && true`, `false && check.n.ok`, `check.n.ok == null`,
		`check.n.error == null`, `check.n.status != null`, `check.n.latency > 1`, `null == null`,
		`age(check.n.observed) > 0`, `nullobj.ok`, `nullobj == null`, `coalesce(check.n.ok, false)`,
		// unknowns
		`check.u.ok`, `!check.u.ok`, `check.u.ok && false`, `false && check.u.ok`, `true || check.u.ok`,
		`check.u.ok || true`, `check.u.status == 200`, `check.u.latency > 1`, `unknownobj.ok`, `dyn`,
		`dyn.x`, `dyn == 1`, `age(check.u.observed) > 0`,
		// marks
		`check.m.ok`, `!check.m.ok`, `check.m.ok && true`, `check.m.status == 500`, `check.m.latency > 0.5`,
		`markedobj.ok`, `length(check.m.error) == 1`,
		// errors and short circuits HCL resolves in its own way
		`chek.a.ok`, `check.zz.ok`, `check.a.zz`, `check.a.ok.zz`, `true || chek.x`, `chek.x || true`,
		`false && chek.x`, `chek.x && false`, `check.a.ok && chek.x`, `nosuch(1)`, `age("x") > 0`,
		`duration("3w") > 0`, `length(1) > 0`, `age() > 0`, `age("a", "b") > 0`,
		// maps, lists, indexes, splats, conditionals, arithmetic, try/can
		`mapfacts.x == "1"`, `mapfacts.z == "1"`, `list[0] == "a"`, `list[5] == "a"`, `tuple[1] == 1`,
		`list == ["a", "b"]`, `tuple == ["a", 1]`, `{a = 1} == {a = 1}`, `[for x in list : x] == list`,
		`check.a.ok ? true : false`, `check.a.latency + 1 > 1.5`, `-check.a.latency < 0`,
		`try(check.n.ok, false)`, `can(age(check.n.observed))`, `try(chek.x, true)`,
		`format("%s", check.a.status) == "200"`, `max(check.a.latency, 1) == 1`, `concat(list, list) == list`,
		`upper("${check.b.error}x") == "REFUSEDX"`, `tostring(check.a.status) == "200"`,
		`length([for k, v in check : k if v.ok == true]) > 0`,
		// coalesce, computed without HCL for one primitive type
		`coalesce(check.n.latency, 0) > 0.5`, `coalesce(check.a.latency, 0) > 0.5`, `coalesce(check.n.ok, check.n.ok, false)`,
		`coalesce(check.n.error, "x") == "x"`, `coalesce(check.n.ok)`, `coalesce(check.n.latency, check.n.latency) > 0`,
		`coalesce(check.u.latency, 1) > 0`, `coalesce(check.m.latency, 1) > 0`, `coalesce(check.n.latency, "1") == 1`,
		`coalesce(check.n.latency, null) == null`, `coalesce(check.s.status, 200) == 200`, `coalesce(chek.x, 1) == 1`,
		`coalesce(check.n.latency, 1, chek.x) == 1`, `coalesce() == 1`, `coalesce(list, ["a"]) == list`,
		`coalesce(check.n.status, check.a.status) == 200`, `coalesce(mapfacts.z, "y") == "y"`,
	} {
		t.Run(src, func(t *testing.T) { sameAsHCL(t, src, ctx) })
	}
}

func TestPrepare_FastPathIsTaken(t *testing.T) {
	ctx := evalCtx(diffVars())
	for _, src := range []string{
		`check.a.ok && !check.b.ok || age(check.a.observed) > duration("24h")`,
		`check.a.status >= 500 && check.b.error != ""`,
		`peer.primary.version != node.version && check.a.ok`,
		`check.n.error == null`,
		`coalesce(check.n.latency, 0) > 0.5 || coalesce(check.n.error, "") != ""`,
	} {
		if !sameAsHCL(t, src, ctx) {
			t.Errorf("%s: the fast path did not answer", src)
		}
	}
}

// TestPrepare_Random compares the fast path with HCL on thousands of
// generated conditions.
func TestPrepare_Random(t *testing.T) {
	ctx := evalCtx(diffVars())
	rng := rand.New(rand.NewPCG(7, 11))
	facts := []string{"a", "b", "n", "u", "m", "s", "zz"}
	attrs := []string{"ok", "latency", "error", "observed", "status", "zz"}
	atoms := []string{`true`, `false`, `null`, `0`, `0.5`, `200`, `"x"`, `""`, `"200"`, `"true"`, `flag`,
		`node.version`, `peer.primary.version`, `mapfacts.x`, `nullobj.ok`, `unknownobj.ok`, `markedobj.ok`, `dyn`,
		`list`, `["a", "b"]`, `duration("1h")`, `now()`}
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth <= 0 || rng.IntN(4) == 0 {
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("check.%s.%s", facts[rng.IntN(len(facts))], attrs[rng.IntN(len(attrs))])
			}
			return atoms[rng.IntN(len(atoms))]
		}
		switch rng.IntN(12) {
		case 0:
			return "!" + gen(depth-1)
		case 1:
			return "(" + gen(depth-1) + ")"
		case 2:
			return fmt.Sprintf("age(%s)", gen(depth-1))
		case 3:
			return fmt.Sprintf("length(%s)", gen(depth-1))
		case 4:
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("coalesce(%s, %s)", gen(depth-1), gen(depth-1))
			}
			return fmt.Sprintf("try(%s, %s)", gen(depth-1), gen(depth-1))
		case 5:
			return fmt.Sprintf("%s ? %s : %s", gen(depth-1), gen(depth-1), gen(depth-1))
		default:
			ops := []string{"&&", "||", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*"}
			return fmt.Sprintf("%s %s %s", gen(depth-1), ops[rng.IntN(len(ops))], gen(depth-1))
		}
	}
	answered := 0
	const n = 4000
	for i := 0; i < n; i++ {
		src := gen(4)
		if sameAsHCL(t, src, ctx) {
			answered++
		}
	}
	t.Logf("fast path answered %d of %d generated expressions", answered, n)
	if answered < n/10 {
		t.Fatalf("the fast path answered only %d of %d", answered, n)
	}
}

func TestPrepare_ReplacedWhenAndFunctions(t *testing.T) {
	ctx := evalCtx(diffVars())
	r := &Rule{Name: "r", When: mustExpr(t, `check.a.ok`)}
	r.Prepare()
	r.When = mustExpr(t, `check.b.ok`) // changed after Prepare: the compiled form must not be used
	if h, err := r.Holds(ctx); err != nil || h {
		t.Fatalf("Holds = %v, %v; want false from the new condition", h, err)
	}

	// A context whose duration is not ours: the folded constant is not used.
	r = &Rule{Name: "r", When: mustExpr(t, `duration("1h") == 7`)}
	r.Prepare()
	child := ctx.NewChild()
	child.Functions = map[string]function.Function{
		"duration": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Number),
			Impl:   func([]cty.Value, cty.Type) (cty.Value, error) { return cty.NumberIntVal(7), nil },
		}),
		"upper": stdlib.LowerFunc,
	}
	if h, err := r.Holds(child); err != nil || !h {
		t.Fatalf("Holds = %v, %v; want the context's duration", h, err)
	}
	r = &Rule{Name: "r", When: mustExpr(t, `upper("A") == "a"`)}
	r.Prepare()
	if h, err := r.Holds(child); err != nil || !h {
		t.Fatalf("Holds = %v, %v; want the child's function", h, err)
	}
	if h, err := r.Holds(ctx); err != nil || h {
		t.Fatalf("Holds = %v, %v; want the parent's function", h, err)
	}

	// Nil rule, nil When, nil context.
	var nilRule *Rule
	nilRule.Prepare()
	(&Rule{}).Prepare()
	r = &Rule{Name: "r", When: mustExpr(t, `flag`)}
	r.Prepare()
	if _, err := r.Holds(nil); err == nil || !strings.Contains(err.Error(), "rules.hcl:1:1") {
		t.Fatalf("nil context: %v", err)
	}
}
