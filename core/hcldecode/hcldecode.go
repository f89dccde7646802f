// Package hcldecode holds the small helpers the agent's HCL decoders share:
// evaluating an argument to a type with a diagnostic that points at it, and
// reading a list of strings with the range of each element, and suggesting
// a name close to a misspelt one.
package hcldecode

import (
	"fmt"
	"math/big"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Value evaluates attr and converts the value to ty. It returns
// cty.NilVal when there are errors and a null of ty when the value is null.
func Value(attr *hcl.Attribute, ctx *hcl.EvalContext, ty cty.Type) (cty.Value, hcl.Diagnostics) {
	v, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	if v.IsNull() {
		return cty.NullVal(ty), diags
	}
	if !v.IsWhollyKnown() {
		return cty.NilVal, append(diags, AttrError(attr, "Invalid value",
			fmt.Sprintf("The value of %q cannot be known when the configuration is loaded.", attr.Name)))
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		return cty.NilVal, append(diags, AttrError(attr, "Incorrect attribute value type",
			fmt.Sprintf("Inappropriate value for attribute %q: %s.", attr.Name, err.Error())))
	}
	return cv, diags
}

// AttrError is an error about the value of attr.
func AttrError(attr *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  attr.Expr.Range().Ptr(),
		Context:  hcl.RangeBetween(attr.NameRange, attr.Expr.Range()).Ptr(),
	}
}

// Ranged is a string from a list, with the range of its element.
type Ranged struct {
	Value string
	Range hcl.Range
}

// Strings evaluates attr as a list of strings; each element carries its
// own range when the list is written out, else the argument's. A null list
// is empty; a null element is an error.
func Strings(attr *hcl.Attribute, ctx *hcl.EvalContext) ([]Ranged, hcl.Diagnostics) {
	v, diags := Value(attr, ctx, cty.List(cty.String))
	if diags.HasErrors() || v.IsNull() {
		return nil, diags
	}
	elems, d := hcl.ExprList(attr.Expr)
	if d.HasErrors() || len(elems) != v.LengthInt() {
		elems = nil
	}
	var out []Ranged
	for i, ev := range v.AsValueSlice() {
		rng := attr.Expr.Range()
		if elems != nil {
			rng = elems[i].Range()
		}
		if ev.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value",
				Detail: fmt.Sprintf("The elements of %s must not be null.", attr.Name), Subject: rng.Ptr()})
			continue
		}
		out = append(out, Ranged{Value: ev.AsString(), Range: rng})
	}
	return out, diags
}

// Where formats the start of r as file:line:col.
func Where(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// Suggestion returns the first of names that is close to given (an edit
// distance under 3, as hclsyntax does), or "".
func Suggestion(given string, names []string) string {
	for _, s := range names {
		if levenshtein.Distance(given, s, nil) < 3 {
			return s
		}
	}
	return ""
}

// WholeNumber returns v as an int64 when it is a known whole number that
// fits one.
func WholeNumber(v cty.Value) (int64, bool) {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	n, acc := bf.Int64()
	return n, acc == big.Exact
}
