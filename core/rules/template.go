package rules

import (
	"fmt"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Mode says what a rendered template is for, and so how its values are
// made safe.
type Mode int

const (
	// ModeSubject renders a mail subject: one line, at most MaxSubjectRunes.
	ModeSubject Mode = iota
	// ModeText renders a plain-text body, as is.
	ModeText
	// ModeHTML renders an HTML body: every string value the template reads
	// from variables is HTML-escaped first.
	ModeHTML
)

// MaxSubjectRunes is the length to which a rendered subject is cut.
const MaxSubjectRunes = 250

// String returns "subject", "text" or "html".
func (m Mode) String() string {
	switch m {
	case ModeSubject:
		return "subject"
	case ModeText:
		return "text"
	case ModeHTML:
		return "html"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Render evaluates the template expression expr in ctx and returns its
// text, made safe for mode:
//
//   - ModeSubject: every line break and other control character becomes a
//     space, the result is trimmed and cut to MaxSubjectRunes runes (the
//     last one an ellipsis), so that no value can end the Subject header
//     and add another.
//   - ModeText: the text as is.
//   - ModeHTML: before evaluation, every string reachable from the
//     variables of ctx (and of its parents) is HTML-escaped, including map
//     keys and object attribute names; literal text written in the template
//     is not. So `<b>${check.web.body}</b>` with a body of "<script>"
//     renders "<b>&lt;script&gt;</b>". Values are safe in element content
//     and in quoted attribute values, not inside <script> or <style> or in
//     URLs (a value may still be "javascript:...").
//
// A result that is not a string is converted to one (numbers and bools
// convert); a null, unknown or non-convertible result, and any diagnostic,
// is an error that names the mode and the position (file:line:col).
func Render(expr hcl.Expression, ctx *hcl.EvalContext, mode Mode) (string, error) {
	if expr == nil {
		return "", fmt.Errorf("render %s: no template", mode)
	}
	switch mode {
	case ModeSubject, ModeText:
	case ModeHTML:
		ctx = escapedContext(ctx)
	default:
		return "", fmt.Errorf("render: unknown mode %d", int(mode))
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return "", fmt.Errorf("render %s: %w", mode, diagsError(diags, expr.Range()))
	}
	v, _ = v.UnmarkDeep()
	at := pos(expr.Range())
	switch {
	case !v.IsKnown():
		return "", fmt.Errorf("render %s: %s: the template's value is not known", mode, at)
	case v.IsNull():
		return "", fmt.Errorf("render %s: %s: the template is null", mode, at)
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", fmt.Errorf("render %s: %s: the template must produce a string, not %s", mode, at, v.Type().FriendlyName())
	}
	s := sv.AsString()
	if mode == ModeSubject {
		s = cleanSubject(s)
	}
	return s, nil
}

// cleanSubject makes s one header-safe line of at most MaxSubjectRunes
// runes.
func cleanSubject(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= MaxSubjectRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxSubjectRunes-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
		}
		n++
	}
	return s
}

// escapedContext returns a child of ctx in which every variable visible in
// ctx is replaced by its EscapeHTMLValues copy. Functions are still found
// through the parent.
func escapedContext(ctx *hcl.EvalContext) *hcl.EvalContext {
	if ctx == nil {
		return nil
	}
	vars := make(map[string]cty.Value)
	for c := ctx; c != nil; c = c.Parent() {
		for name, v := range c.Variables {
			if _, shadowed := vars[name]; !shadowed {
				vars[name] = EscapeHTMLValues(v)
			}
		}
	}
	child := ctx.NewChild()
	child.Variables = vars
	return child
}

// EscapeHTMLValues returns a deep copy of v in which every string, map key
// and object attribute name is HTML-escaped (html.EscapeString). Numbers,
// bools, nulls, unknowns and marks are kept. v itself is not modified; when
// nothing needs escaping v is returned as is.
func EscapeHTMLValues(v cty.Value) cty.Value {
	out, _ := escapeValue(v)
	return out
}

// escapeValue implements EscapeHTMLValues; changed reports whether the
// result differs from v.
func escapeValue(v cty.Value) (out cty.Value, changed bool) {
	if v == cty.NilVal {
		return v, false
	}
	uv, marks := v.Unmark()
	if !uv.IsKnown() || uv.IsNull() {
		return v, false
	}
	ty := uv.Type()
	var res cty.Value
	switch {
	case ty == cty.String:
		s := uv.AsString()
		e := html.EscapeString(s)
		if e == s {
			return v, false
		}
		res = cty.StringVal(e)
	case ty.IsListType(), ty.IsSetType(), ty.IsTupleType():
		if uv.LengthInt() == 0 {
			return v, false
		}
		elems := make([]cty.Value, 0, uv.LengthInt())
		dirty := false
		for it := uv.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			ev, c := escapeValue(ev)
			dirty = dirty || c
			elems = append(elems, ev)
		}
		if !dirty {
			return v, false
		}
		switch {
		case ty.IsListType():
			res = cty.ListVal(elems)
		case ty.IsSetType():
			res = cty.SetVal(elems)
		default:
			res = cty.TupleVal(elems)
		}
	case ty.IsMapType(), ty.IsObjectType():
		if uv.LengthInt() == 0 {
			return v, false
		}
		attrs := make(map[string]cty.Value, uv.LengthInt())
		dirty := false
		for it := uv.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			ks := k.AsString()
			ek := html.EscapeString(ks)
			ev, c := escapeValue(ev)
			dirty = dirty || c || ek != ks
			attrs[ek] = ev
		}
		if !dirty {
			return v, false
		}
		if ty.IsMapType() {
			res = cty.MapVal(attrs)
		} else {
			res = cty.ObjectVal(attrs)
		}
	default: // numbers, bools, capsules
		return v, false
	}
	return res.WithMarks(marks), true
}
