package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// DecodeSettings decodes the transport's config block against the schema
// its plugin declares. Unknown arguments, values of the wrong type, missing
// required arguments, durations that time.ParseDuration rejects and values
// outside an attribute's OneOf are diagnostics at the argument's line. On
// success it sets t.Settings to a JSON object of the arguments that are set
// (nulls left out). It also records which arguments are sensitive, so that
// rendered diagnostics hide their values; call it before rendering any
// diagnostic about the transport.
func (t *Transport) DecodeSettings(schema sdk.Schema) hcl.Diagnostics {
	plugin := t.pluginName("")
	if err := schema.Validate(); err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin schema",
			Detail:   fmt.Sprintf("The %s plugin declares a settings schema the agent cannot use: %s. This is a defect of the plugin.", plugin, err),
			Subject:  t.PluginRange.Ptr(),
		}}
	}

	t.Settings = sdk.Settings{}
	t.sensitiveRanges, t.secrets = nil, nil
	if t.preset != nil {
		return t.decodePreset(schema, plugin)
	}
	var required []string
	for _, a := range schema {
		if a.Sensitive {
			if r, ok := t.attrRanges[a.Name]; ok {
				t.sensitiveRanges = append(t.sensitiveRanges, r)
			}
		}
		if a.Required {
			required = append(required, a.Name)
		}
	}

	if t.body == nil {
		if len(required) > 0 {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Missing config block",
				Detail:   fmt.Sprintf("The %s plugin needs a config block that sets %s.", plugin, quoteList(required, "and")),
				Subject:  t.defRange.Ptr(),
			}}
		}
		t.Settings = sdk.NewSettings([]byte("{}"))
		return nil
	}

	spec := hcldec.ObjectSpec{}
	for _, a := range schema {
		// Required is checked below, so that null counts as missing and
		// the message can point at the config block.
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: ctyType(a.Type)}
	}
	val, diags := hcldec.Decode(t.body, spec, t.ctx)
	diags = t.explain(diags, schema, plugin)

	values := map[string]cty.Value{}
	objOK := val != cty.NilVal && val.IsKnown() && !val.IsNull() && val.Type().IsObjectType()
	for _, a := range schema {
		rng, set := t.attrRanges[a.Name]
		v := cty.NullVal(ctyType(a.Type))
		if objOK && val.Type().HasAttribute(a.Name) {
			v = val.GetAttr(a.Name)
		}
		if v.IsNull() {
			if a.Required {
				diags = append(diags, t.missing(a, plugin, set, rng))
			}
			continue
		}
		if !v.IsWhollyKnown() {
			continue // an error was reported
		}
		if a.Sensitive {
			t.remember(v)
			// A name that looks secret was warned about when the file
			// was loaded; the schema knows more secrets than names do.
			if expr, ok := t.attrExpr(a.Name); ok && !secretName(a.Name) && isLiteralString(expr) {
				diags = append(diags, literalSecretWarning(a.Name, rng))
			}
		}
		if d := checkValue(a, v, rng, plugin); d != nil {
			diags = append(diags, d)
			continue
		}
		values[a.Name] = v
	}
	sortDiagnostics(diags, map[string]int{t.defRange.Filename: 0})
	if diags.HasErrors() {
		return diags
	}

	obj := cty.EmptyObjectVal
	if len(values) > 0 {
		obj = cty.ObjectVal(values)
	}
	js, err := ctyjson.Marshal(obj, obj.Type())
	if err != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot encode the settings",
			Detail:   fmt.Sprintf("Encoding the settings of transport %q as JSON failed: %s.", t.Name, err),
			Subject:  t.configRange.Ptr(),
		})
	}
	t.Settings = sdk.NewSettings(js)
	return diags
}

// PluginDiagnostics converts the diagnostics a plugin returned from
// Configure into HCL diagnostics. Each points at the argument it names when
// that argument is set, else at the config block, else at the transport
// block. plugin names the plugin in the details; empty means t.Plugin.
// Values of sensitive settings are removed from the text.
func (t *Transport) PluginDiagnostics(plugin string, d sdk.Diagnostics) hcl.Diagnostics {
	plugin = t.pluginName(plugin)
	var diags hcl.Diagnostics
	for _, x := range d {
		sev := hcl.DiagError
		if x.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		subject := t.defRange
		if t.body != nil {
			subject = t.configRange
		}
		r, set := t.attrRanges[x.Attribute]
		if x.Attribute != "" && set {
			subject = r
		}
		summary := t.scrub(strings.TrimSpace(x.Summary))
		if summary == "" {
			summary = "Invalid transport settings"
		}
		mention := fmt.Sprintf("Reported by the %s plugin for transport %q", plugin, t.Name)
		if x.Attribute != "" && !set {
			mention += fmt.Sprintf(", about the setting %q, which is not set", x.Attribute)
		}
		detail := t.scrub(strings.TrimSpace(x.Detail))
		if detail != "" {
			detail += "\n\n"
		}
		detail += mention + "."
		diags = append(diags, &hcl.Diagnostic{
			Severity: sev,
			Summary:  summary,
			Detail:   detail,
			Subject:  subject.Ptr(),
		})
	}
	return diags
}

// pluginName is the name used for the plugin in messages.
func (t *Transport) pluginName(plugin string) string {
	switch {
	case plugin != "":
		return plugin
	case t.Plugin != "":
		return t.Plugin
	default:
		return "transport's"
	}
}

// explain adds the plugin's view to hcldec's diagnostics.
func (t *Transport) explain(diags hcl.Diagnostics, schema sdk.Schema, plugin string) hcl.Diagnostics {
	names := make([]string, len(schema))
	for i, a := range schema {
		names[i] = a.Name
	}
	takes := fmt.Sprintf(" The %s plugin takes: %s.", plugin, strings.Join(names, ", "))
	if len(names) == 0 {
		takes = fmt.Sprintf(" The %s plugin takes no settings.", plugin)
	}
	for _, d := range diags {
		switch d.Summary {
		case "Unsupported argument":
			d.Detail += takes
		case "Unsupported block type":
			d.Detail += " A config block holds arguments only." + takes
		case "Incorrect attribute value type":
			if d.Subject == nil {
				continue
			}
			for _, a := range schema {
				if r, ok := t.attrRanges[a.Name]; ok && r == *d.Subject {
					d.Detail += fmt.Sprintf(" The %s plugin takes %s for %q.", plugin, typeNoun(a.Type), a.Name)
				}
			}
		}
	}
	return diags
}

// missing reports a required setting that is not set, or set to null.
func (t *Transport) missing(a sdk.Attribute, plugin string, set bool, rng hcl.Range) *hcl.Diagnostic {
	detail := fmt.Sprintf("The %s plugin requires the argument %q", plugin, a.Name)
	if a.Description != "" {
		detail += fmt.Sprintf(" (%s)", strings.TrimSuffix(a.Description, "."))
	}
	subject := t.configRange
	if set {
		subject = rng
		detail += "; null does not set it"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   detail + ".",
		Subject:  subject.Ptr(),
	}
}

// remember keeps the value of a sensitive setting, to scrub it from
// messages.
func (t *Transport) remember(v cty.Value) {
	switch {
	case v.Type() == cty.String:
		t.secrets = append(t.secrets, v.AsString())
	case v.Type().IsListType():
		for _, e := range v.AsValueSlice() {
			if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
				t.secrets = append(t.secrets, e.AsString())
			}
		}
	}
}

// scrub replaces the values of sensitive settings in s.
func (t *Transport) scrub(s string) string {
	return scrubSecrets(s, t.secrets)
}

// Scrub returns s with the decoded values of the transport's sensitive
// settings replaced by "(sensitive)": for text a plugin wrote, such as an
// error that quotes the password the server refused, before it goes into
// a diagnostic, a log line or /v1/status.
func (t *Transport) Scrub(s string) string {
	if t == nil {
		return s
	}
	return t.scrub(s)
}

// ScrubValues returns s with each of values that is long enough to be a
// secret (not a word that happens to occur in text) replaced by
// "(sensitive)", as Scrub does with a transport's settings: for secrets
// that live outside the configuration, such as a stored login.
func ScrubValues(s string, values ...string) string {
	return scrubSecrets(s, values)
}

// checkValue applies the checks HCL types cannot express: durations, OneOf
// and null list elements. v is known and not null.
func checkValue(a sdk.Attribute, v cty.Value, rng hcl.Range, plugin string) *hcl.Diagnostic {
	diag := func(summary, detail string) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
	}
	switch a.Type {
	case sdk.TypeDuration:
		if _, err := time.ParseDuration(strings.TrimSpace(v.AsString())); err != nil {
			detail := fmt.Sprintf("The %s plugin takes a duration for %q, such as \"30s\", \"5m\" or \"1h30m\"", plugin, a.Name)
			if !a.Sensitive {
				detail += fmt.Sprintf("; %s", err)
			}
			return diag("Invalid duration", detail+".")
		}
	case sdk.TypeString:
		if len(a.OneOf) == 0 || contains(a.OneOf, v.AsString()) {
			return nil
		}
		detail := fmt.Sprintf("The %s plugin accepts one of %s for %q", plugin, quoteList(a.OneOf, "or"), a.Name)
		if !a.Sensitive {
			detail += fmt.Sprintf(", not %q.", v.AsString())
			if s := nameSuggestion(v.AsString(), a.OneOf); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
		} else {
			detail += "."
		}
		return diag("Value not allowed", detail)
	case sdk.TypeListOfString:
		for _, e := range v.AsValueSlice() {
			if e.IsNull() {
				return diag("Invalid list element", fmt.Sprintf("The list %q must not hold null.", a.Name))
			}
		}
	}
	return nil
}

// ctyType is the HCL type of a settings type; a duration is a string.
func ctyType(t sdk.Type) cty.Type {
	switch t {
	case sdk.TypeNumber:
		return cty.Number
	case sdk.TypeBool:
		return cty.Bool
	case sdk.TypeListOfString:
		return cty.List(cty.String)
	default:
		return cty.String
	}
}

// typeNoun names a settings type in a sentence.
func typeNoun(t sdk.Type) string {
	switch t {
	case sdk.TypeNumber:
		return "a number"
	case sdk.TypeBool:
		return "true or false"
	case sdk.TypeListOfString:
		return "a list of strings"
	case sdk.TypeDuration:
		return "a duration such as \"30s\""
	default:
		return "a string"
	}
}

// quoteList writes names as "a", "b" and "c" (or "a", "b" or "c").
func quoteList(names []string, conj string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

// attrExpr returns the expression of the config argument name.
func (t *Transport) attrExpr(name string) (hclsyntax.Expression, bool) {
	body, ok := t.body.(*hclsyntax.Body)
	if !ok {
		return nil, false
	}
	attr, ok := body.Attributes[name]
	if !ok {
		return nil, false
	}
	return attr.Expr, true
}
