package rules

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// compactFile is a rule's attributes as a configuration file writes them,
// with a heredoc, a quoted template, an attachment list and a condition
// spread over lines.
const compactFile = `# the rule's attributes, one file
when = (
  check.a.ok &&
  try(check.n.ok, true)
)
subject = "${upper(check.b.error)} on ${node.version}"
text = <<-EOT
  Error: ${check.b.error}
  %{ if check.a.ok }fine%{ else }broken%{ endif }
  EOT
html = "<b>${check.b.error}</b>"
attach = ["/var/log/${check.b.error}.log", "/tmp/x"]
bad = "${nosuch.thing}"
number = check.a.status + 1
`

// compactRule returns a rule declared in compactFile, with its
// expressions parsed from it.
func compactRule(t *testing.T) *Rule {
	t.Helper()
	src := []byte(compactFile)
	attach, diags := hcl.ExprList(mustAttr(t, src, "attach"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	when := mustAttr(t, src, "when")
	return &Rule{
		Name: "r", When: when, DeclRange: when.Range(),
		Subject: mustAttr(t, src, "subject"), Text: mustAttr(t, src, "text"), HTML: mustAttr(t, src, "html"),
		Attach: attach,
	}
}

func TestCompact_SameValuesAndMessages(t *testing.T) {
	ctx := evalCtx(diffVars())
	orig, comp := compactRule(t), compactRule(t)
	comp.Compact([]byte(compactFile))
	comp.Prepare()
	for name, x := range map[string]hcl.Expression{"when": comp.When, "subject": comp.Subject, "text": comp.Text, "html": comp.HTML, "attach[0]": comp.Attach[0]} {
		if _, ok := x.(*sourceExpr); !ok {
			t.Errorf("%s: Compact kept %T", name, x)
		}
	}
	render := func(r *Rule) []string {
		var out []string
		h, err := r.Holds(ctx)
		out = append(out, fmt.Sprint(h, err))
		for _, m := range []struct {
			x    hcl.Expression
			mode Mode
		}{{r.Subject, ModeSubject}, {r.Text, ModeText}, {r.HTML, ModeHTML}, {r.Attach[0], ModeText}, {r.Attach[1], ModeText}} {
			s, err := Render(m.x, ctx, m.mode)
			out = append(out, fmt.Sprintf("%q %v", s, err))
		}
		for _, x := range []hcl.Expression{r.When, r.Subject, r.Text, r.HTML, r.Attach[0]} {
			out = append(out, fmt.Sprint(x.Range(), x.StartRange(), len(x.Variables())))
		}
		return out
	}
	want := render(orig)
	for i := range 2 { // the second time from the kept tree
		if got := render(comp); !slices.Equal(got, want) {
			t.Fatalf("pass %d: after Compact\n%q\nwant\n%q", i, got, want)
		}
	}
	if comp.Attach[1].(*sourceExpr).keep || comp.Subject.(*sourceExpr).keep || !comp.When.(*sourceExpr).keep {
		t.Error("only the condition's tree is kept once parsed")
	}

	// Errors keep their file:line:col.
	src := []byte(compactFile)
	for _, name := range []string{"bad", "number"} {
		x := mustAttr(t, src, name)
		c := fromSource(x, src, false)
		if _, ok := c.(*sourceExpr); !ok {
			t.Fatalf("%s: fromSource kept %T", name, c)
		}
		_, errWant := Render(x, ctx, ModeText)
		_, errGot := Render(c, ctx, ModeText)
		if fmt.Sprint(errGot) != fmt.Sprint(errWant) {
			t.Errorf("%s: %v after Compact, want %v", name, errGot, errWant)
		}
	}
}

func TestCompact_Reads(t *testing.T) {
	r := compactRule(t)
	r.Compact([]byte(compactFile))
	for root, want := range map[string]bool{"check": true, "node": true, "outbox": false, "peer": false} {
		if got := r.Reads(root); got != want {
			t.Errorf("Reads(%q) = %v, want %v", root, got, want)
		}
	}
}

func TestFromSource_KeepsWhatItCannotReparse(t *testing.T) {
	src := []byte(compactFile)
	x := mustAttr(t, src, "subject")
	for name, tc := range map[string]struct {
		x   hcl.Expression
		src []byte
	}{
		"another file's bytes":      {x, []byte("subject = 1\n")},
		"bytes that changed":        {x, []byte(compactFile[:60] + "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((" + compactFile[60:])},
		"not native syntax":         {hcl.StaticExpr(cty.True, hcl.Range{}), src},
		"a literal without a range": {&hclsyntax.LiteralValueExpr{Val: cty.True}, src},
	} {
		t.Run(name, func(t *testing.T) {
			if got := fromSource(tc.x, tc.src, true); got != tc.x {
				t.Errorf("fromSource = %T, want the expression itself", got)
			}
		})
	}

	// A rule from the library (expressions from another file) keeps them.
	r := compactRule(t)
	r.DeclRange.Filename = "library.hcl"
	r.Compact(src)
	if _, ok := r.When.(*sourceExpr); ok {
		t.Error("Compact took an expression of another file than the rule's")
	}
}

// TestSourceExpr_BytesChangedAfterwards: if the file's bytes were changed
// after Compact (nothing in the agent does), evaluating reports the parse
// error instead of guessing a value.
func TestSourceExpr_BytesChangedAfterwards(t *testing.T) {
	src := []byte(compactFile)
	x := fromSource(mustAttr(t, src, "html"), src, false)
	for i := range src {
		src[i] = '('
	}
	if _, diags := x.Value(evalCtx(diffVars())); !diags.HasErrors() {
		t.Fatal("no error from an expression whose bytes were overwritten")
	}
}
