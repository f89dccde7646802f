package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// DefaultSchedule is when a rule without a schedule is evaluated.
const DefaultSchedule = "@every 1m"

// Node holds the expressions of the node block by field name.
type Node struct {
	Fields map[string]hcl.Expression
	// DeclRange is the range of the first node block's header.
	DeclRange hcl.Range
}

var nodeSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range rules.NodeFields {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

var ruleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "schedule"},
		{Name: "when", Required: true},
		{Name: "for"},
		{Name: "repeat"},
		{Name: "notify", Required: true},
		{Name: "severity"},
		{Name: "labels"},
		{Name: "subject", Required: true},
		{Name: "text"},
		{Name: "html"},
		{Name: "attach"},
		{Name: "on_resolve"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "flapping"}},
}

var flappingSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "changes", Required: true},
		{Name: "within", Required: true},
		{Name: "settle"},
	},
}

// Severities are the accepted values of a rule's severity.
var Severities = []string{"info", "warning", "critical"}

// ruleRef is a contact a rule notifies, checked once all files are loaded.
type ruleRef struct {
	rule *rules.Rule
	name string
	rng  hcl.Range
}

func (f *fileDecoder) decodeNode(block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(nodeSchema)
	n := &f.l.cfg.Node
	if n.Fields == nil {
		n.Fields = map[string]hcl.Expression{}
		n.DeclRange = block.DefRange
	}
	for _, name := range rules.NodeFields {
		attr, ok := content.Attributes[name]
		if !ok {
			continue
		}
		if prev, set := f.l.nodeSet[name]; set {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate node argument",
				Detail:   fmt.Sprintf("The node argument %q was already set at %s. Each node argument may be set in one place only, across all files.", name, where(prev)),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		f.l.nodeSet[name] = attr.NameRange
		n.Fields[name] = attr.Expr
	}
	return diags
}

func (f *fileDecoder) decodeRule(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	r := &rules.Rule{Name: name, Schedule: DefaultSchedule, Severity: "warning", OnResolve: true, DeclRange: labelRange}
	diags := checkLabel("rule", name, labelRange)
	diags = append(diags, f.register("rule", name, labelRange, block, f.l.rules)...)
	if !diags.HasErrors() {
		f.l.rules[name] = labelRange
		f.l.cfg.Rules = append(f.l.cfg.Rules, r)
	}
	content, d := block.Body.Content(ruleSchema)
	diags = append(diags, d...)
	a := content.Attributes

	if attr, ok := a["schedule"]; ok {
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if err := rules.ValidateSchedule(s); err != nil {
				diags = append(diags, attrError(attr, "Invalid schedule",
					fmt.Sprintf("%s. A schedule is a cron spec (\"*/5 * * * *\", with an optional seconds field first), a descriptor (\"@daily\", \"@every 1m\"), optionally prefixed by \"CRON_TZ=Europe/Berlin \".", strings.TrimSuffix(err.Error(), "."))))
			} else {
				r.Schedule = s
			}
		}
	}
	if attr, ok := a["when"]; ok {
		r.When = attr.Expr
	}
	for _, n := range []string{"for", "repeat"} {
		attr, ok := a[n]
		if !ok {
			continue
		}
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		dur, err := rules.ParseDuration(strings.TrimSpace(s))
		if err != nil || dur < 0 {
			diags = append(diags, attrError(attr, "Invalid duration",
				fmt.Sprintf("%q is not a duration; write it like \"10m\", \"24h\" or \"7d\".", s)))
			continue
		}
		if n == "for" {
			r.For = dur
		} else {
			r.Repeat = dur
		}
	}
	if attr, ok := a["notify"]; ok {
		diags = append(diags, f.decodeNotify(r, attr)...)
	}
	if attr, ok := a["severity"]; ok {
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if !contains(Severities, s) {
				diags = append(diags, attrError(attr, "Invalid severity",
					fmt.Sprintf("The severity %q is not one of %s.", s, strings.Join(Severities, ", "))))
			}
			r.Severity = s
		}
	}
	if attr, ok := a["labels"]; ok {
		l, d := decodeLabels(attr, f.ctx)
		diags = append(diags, d...)
		r.Labels = l
	}
	if attr, ok := a["subject"]; ok {
		r.Subject = attr.Expr
	}
	if attr, ok := a["text"]; ok {
		r.Text = attr.Expr
	}
	if attr, ok := a["html"]; ok {
		r.HTML = attr.Expr
	}
	if attr, ok := a["attach"]; ok {
		elems, d := hcl.ExprList(attr.Expr)
		if d.HasErrors() {
			diags = append(diags, attrError(attr, "Invalid attach", "attach is a list of file paths, such as [\"/var/log/product/current\"]."))
		}
		r.Attach = elems
	}
	if attr, ok := a["on_resolve"]; ok && len(attr.Expr.Variables()) > 0 {
		// An expression over the facts, evaluated when the rule
		// resolves: refs.go checks what it reads.
		r.ResolveIf = attr.Expr
	} else if ok {
		v, d := attrValue(attr, f.ctx, cty.Bool)
		diags = append(diags, d...)
		if !d.HasErrors() && !v.IsNull() {
			r.OnResolve = v.True()
		}
	}
	for i, b := range content.Blocks {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate flapping block",
				Detail:  fmt.Sprintf("Rule %q already has a flapping block at %s; a rule has one at most.", name, where(content.Blocks[0].DefRange)),
				Subject: b.DefRange.Ptr()})
			continue
		}
		diags = append(diags, f.decodeFlapping(r, b)...)
	}
	return diags
}

// decodeFlapping reads a rule's flapping block into r.Flap.
func (f *fileDecoder) decodeFlapping(r *rules.Rule, block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(flappingSchema)
	if diags.HasErrors() {
		return diags
	}
	a := content.Attributes
	var fl rules.Flap
	if attr, ok := a["changes"]; ok {
		v, d := attrValue(attr, f.ctx, cty.Number)
		diags = append(diags, d...)
		if !d.HasErrors() {
			n, ok := hcldecode.WholeNumber(v)
			if !ok || n < 2 || n > 1000 {
				diags = append(diags, attrError(attr, "Invalid flapping changes",
					"changes is a whole number from 2 to 1000: how many times the rule must fire or resolve within the window to count as flapping, such as 4."))
			}
			fl.Changes = int(n)
		}
	}
	dur := func(name string) time.Duration {
		attr, ok := a[name]
		if !ok {
			return 0
		}
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return 0
		}
		v, err := rules.ParseDuration(strings.TrimSpace(s))
		if err != nil || v <= 0 {
			diags = append(diags, attrError(attr, "Invalid duration",
				fmt.Sprintf("%q is not a duration longer than zero; write it like \"30m\", \"1h\" or \"1d\".", s)))
			return 0
		}
		return v
	}
	fl.Window, fl.Settle = dur("within"), dur("settle")
	if fl.Settle > fl.Window && fl.Window > 0 {
		diags = append(diags, attrError(a["settle"], "Invalid flapping settle",
			fmt.Sprintf("settle (%s) is longer than within (%s); changes are remembered only for within, so settle can be as long as within at most.", fl.Settle, fl.Window)))
	}
	if !diags.HasErrors() {
		r.Flap = fl
	}
	return diags
}

// decodeNotify reads the notify list statically: contact.NAME or strings.
func (f *fileDecoder) decodeNotify(r *rules.Rule, attr *hcl.Attribute) hcl.Diagnostics {
	elems, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() || len(elems) == 0 {
		return hcl.Diagnostics{attrError(attr, "Invalid notify",
			"notify must list at least one contact, such as [contact.ops].")}
	}
	for _, el := range elems {
		name, d := refName(el, f.ctx, "notify", "contact")
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		r.Notify = append(r.Notify, name)
		f.l.notifies = append(f.l.notifies, ruleRef{rule: r, name: name, rng: el.Range()})
	}
	return diags
}

// checkNotify reports the contacts rules name that are not declared.
func (l *loader) checkNotify() hcl.Diagnostics {
	var known []string
	for _, c := range l.cfg.Contacts {
		known = append(known, c.Name)
	}
	var diags hcl.Diagnostics
	for _, ref := range l.notifies {
		if _, ok := l.contacts[ref.name]; ok {
			continue
		}
		detail := fmt.Sprintf("Rule %q notifies contact %q, which is not declared.", ref.rule.Name, ref.name)
		if s := nameSuggestion(ref.name, known); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		if len(known) > 0 {
			detail += fmt.Sprintf(" The declared contacts are: %s.", strings.Join(known, ", "))
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Rule names an unknown contact", Detail: detail, Subject: ref.rng.Ptr()})
	}
	return diags
}
