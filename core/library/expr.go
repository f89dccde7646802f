package library

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// staticValue is the library variable as known when the configuration
// is loaded; backup_ops is unknown until an evaluation.
func (lib *Block) staticValue() cty.Value {
	str := func(s string) cty.Value {
		if s == "" {
			return cty.NullVal(cty.String)
		}
		return cty.StringVal(s)
	}
	checkNames := func(prefix string, n int) cty.Value {
		var names []hcldecode.Ranged
		for i := 0; i < n; i++ {
			names = append(names, hcldecode.Ranged{Value: fmt.Sprintf("%s%d", prefix, i)})
		}
		return stringListVal(names)
	}
	return cty.ObjectVal(lib.withSyncValues(map[string]cty.Value{
		"peer_url":               str(lib.peerURL),
		"primary_hostname":       str(lib.primaryHostname),
		"shared_ips":             stringListVal(lib.sharedIPs),
		"shared_ip_interface":    str(lib.sharedIPInterface),
		"shared_ip_checks":       checkNames(sharedIPCheckPrefix, len(lib.sharedIPs)),
		"test_ips":               stringListVal(lib.testIPs),
		"test_ip_checks":         checkNames(testIPCheckPrefix, len(lib.testIPs)),
		"version_checks":         readChecks(lib.version),
		"sync_file":              str(lib.syncFile),
		"takeover_after":         str(lib.takeoverAfter),
		"takeover_overdue_after": str(overdueAfter(lib.takeoverAfter)),
		"backup_lost_after":      str(lib.backupLostAfter),
		"delivery_alert_after":   str(lib.deliveryAlertAfter),
		"heartbeat":              str(lib.heartbeat),
		"heartbeat_every":        str(DescribeSchedule(lib.heartbeat)),
		"log_file":               str(lib.logFile),
		"backup_ops":             cty.UnknownVal(cty.Bool),
	}))
}

// withSyncValues adds the settings sync's values to v (the variable
// library): settings_unsynced_after.
func (lib *Block) withSyncValues(v map[string]cty.Value) map[string]cty.Value {
	after := lib.settingsUnsyncedAfter
	if after == "" {
		after = DefaultSettingsUnsyncedAfter
	}
	v["settings_unsynced_after"] = cty.StringVal(after)
	return v
}

// overdueAfter is takeover_after plus TakeoverGrace, written as a
// duration ("10m", "1h5m"); "" when takeover_after is not a duration,
// which decoding has reported.
func overdueAfter(takeoverAfter string) string {
	d, err := rules.ParseDuration(takeoverAfter)
	if err != nil || d <= 0 {
		return ""
	}
	s := (d + TakeoverGrace).String() // "10m0s", "1h5m0s", "2h0m0s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// readChecks lists the checks expr reads (check.NAME...), sorted, so
// that a rule can say why a setting read from them is unknown: an empty
// list when expr is nil or reads none.
func readChecks(expr hcl.Expression) cty.Value {
	if expr == nil {
		return cty.ListValEmpty(cty.String)
	}
	seen := map[string]bool{}
	var names []hcldecode.Ranged
	for _, tr := range expr.Variables() {
		if tr.RootName() != "check" || len(tr) < 2 {
			continue
		}
		var name string
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			name = step.Name
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() && !step.Key.IsNull() {
				name = step.Key.AsString()
			}
		}
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, hcldecode.Ranged{Value: name})
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Value < names[j].Value })
	return stringListVal(names)
}

// wrapRule makes the library variable visible to the rule's
// expressions, and leaves out the attachments that the settings make null
// (a log_file that is not set).
func wrapRule(r *rules.Rule, static cty.Value, backupOps hcl.Expression) {
	wrap := func(e hcl.Expression) hcl.Expression {
		if e == nil {
			return nil
		}
		return newLibraryExpr(e, static, backupOps)
	}
	r.When = wrap(r.When)
	r.Subject = wrap(r.Subject)
	r.Text = wrap(r.Text)
	r.HTML = wrap(r.HTML)
	r.ResolveIf = wrap(r.ResolveIf)
	staticCtx := &hcl.EvalContext{Variables: map[string]cty.Value{libraryVariable: static}}
	var attach []hcl.Expression
	for _, a := range r.Attach {
		if v, d := a.Value(staticCtx); !d.HasErrors() && v.IsKnown() && v.IsNull() {
			continue
		}
		attach = append(attach, wrap(a))
	}
	r.Attach = attach
}

// libraryExpr is an expression of a library rule: it is evaluated with
// the variable library added to the context it is given. library holds
// the settings (see staticValue); its backup_ops is evaluated in that
// same context, only for the expressions that read it.
type libraryExpr struct {
	hcl.Expression
	static    cty.Value
	backupOps hcl.Expression // nil when the expression does not read it
}

func newLibraryExpr(e hcl.Expression, static cty.Value, backupOps hcl.Expression) *libraryExpr {
	le := &libraryExpr{Expression: e, static: static}
	for _, tr := range e.Variables() {
		if tr.RootName() != libraryVariable || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == "backup_ops" {
			le.backupOps = backupOps
			if le.backupOps == nil {
				le.backupOps = &hclsyntax.LiteralValueExpr{Val: cty.True, SrcRange: e.Range()}
			}
		}
	}
	return le
}

// Value implements hcl.Expression.
func (e *libraryExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if ctx == nil {
		ctx = &hcl.EvalContext{}
	}
	lib := e.static
	var opsDiags hcl.Diagnostics
	if e.backupOps != nil {
		var v cty.Value
		v, opsDiags = e.backupOpsValue(ctx)
		attrs := lib.AsValueMap()
		attrs["backup_ops"] = v
		if opsDiags.HasErrors() {
			// Left out: an expression that guards the read, such as
			// try(library.backup_ops, true), still has a value; one that
			// does not fails with backup_ops' own error below.
			delete(attrs, "backup_ops")
		}
		lib = cty.ObjectVal(attrs)
	}
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{libraryVariable: lib}
	v, diags := e.Expression.Value(child)
	if diags.HasErrors() && opsDiags.HasErrors() {
		return cty.DynamicVal, opsDiags
	}
	return v, diags
}

// backupOpsValue evaluates the library's backup_ops in ctx: a bool, or
// unknown when the configuration is checked before any fact exists.
func (e *libraryExpr) backupOpsValue(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := e.backupOps.Value(ctx)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	v, _ = v.Unmark()
	if cv, err := convert.Convert(v, cty.Bool); err == nil {
		v = cv
	}
	// An unknown value (when the configuration is checked, before any
	// fact exists) makes the expression unknown, not wrong.
	if v.IsKnown() && (v.IsNull() || v.Type() != cty.Bool) {
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid backup_ops",
			Detail:   fmt.Sprintf("The library's backup_ops must be true or false, not %s.", friendly(v)),
			Subject:  e.backupOps.Range().Ptr(),
		}}
	}
	if !v.IsKnown() {
		v = cty.UnknownVal(cty.Bool)
	}
	return v, nil
}

// Variables implements hcl.Expression: the variables the expression reads
// from its context, which does not hold library.
func (e *libraryExpr) Variables() []hcl.Traversal {
	var out []hcl.Traversal
	for _, tr := range e.Expression.Variables() {
		if tr.RootName() != libraryVariable {
			out = append(out, tr)
		}
	}
	if e.backupOps != nil {
		out = append(out, e.backupOps.Variables()...)
	}
	return out
}

// friendly describes a value for a message.
func friendly(v cty.Value) string {
	switch {
	case !v.IsKnown():
		return "an unknown value"
	case v.IsNull():
		return "null"
	}
	return v.Type().FriendlyName()
}

// stringListVal returns the strings as a list; empty, not null, when
// there are none.
func stringListVal(list []hcldecode.Ranged) cty.Value {
	if len(list) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(list))
	for i, s := range list {
		vals[i] = cty.StringVal(s.Value)
	}
	return cty.ListVal(vals)
}
