package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// Check is a check or peer block: something observed on a schedule whose
// result rules read as check.NAME or peer.NAME.
type Check struct {
	Name string
	// Spec is what the facts package runs.
	Spec facts.Spec
	// DeclRange is the range of the block's label.
	DeclRange hcl.Range
}

// MinCheckEvery is the shortest interval a check may run at.
const MinCheckEvery = time.Second

// checkArgs are the arguments of a check block, as the check kinds
// registered in the facts package declare them.
var checkArgs = func() (a struct {
	// main lists the arguments that say what a check observes, in the
	// order of the kinds; a check sets exactly one of them.
	main []kindArgument
	// options maps every other argument to the kinds it applies to, in
	// the order of the kinds.
	options map[string][]kindArgument
	// optionNames lists the options in the order they first appear.
	optionNames []string
}) {
	a.options = map[string][]kindArgument{}
	for _, name := range facts.Kinds() {
		k, _ := facts.Lookup(name)
		for _, arg := range k.Args() {
			switch {
			case arg.Main:
				a.main = append(a.main, kindArgument{kind: name, arg: arg})
				continue
			case a.options[arg.Name] == nil:
				a.optionNames = append(a.optionNames, arg.Name)
			}
			a.options[arg.Name] = append(a.options[arg.Name], kindArgument{kind: name, arg: arg})
		}
	}
	return a
}()

// kindArgument is an argument of a check block as one kind reads it.
type kindArgument struct {
	kind facts.Kind
	arg  facts.Arg
}

var checkSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "every"}, {Name: "timeout"}}}
	for _, m := range checkArgs.main {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: m.arg.Name})
	}
	// In the order of the kinds: HCL suggests the first name close to a
	// misspelt one.
	for _, n := range checkArgs.optionNames {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

var peerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url", Required: true},
		{Name: "every"},
		{Name: "timeout"},
		{Name: "ca_file"},
		{Name: "tls_skip_verify"},
		{Name: "fingerprint"},
		{Name: "token_file"},
		{Name: "insecure"},
		{Name: "settings_from"},
	},
}

func (f *fileDecoder) decodeCheck(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	c := &Check{Name: name, DeclRange: labelRange, Spec: facts.Spec{Name: name}}
	diags := checkLabel("check", name, labelRange)
	diags = append(diags, f.register("check", name, labelRange, block, f.l.checks)...)
	if !diags.HasErrors() {
		f.l.checks[name] = labelRange
		f.l.cfg.Checks = append(f.l.cfg.Checks, c)
	}
	content, d := block.Body.Content(checkSchema)
	diags = append(diags, d...)

	var kindArgs []*hcl.Attribute
	var main []kindArgument
	for _, m := range checkArgs.main {
		if a, ok := content.Attributes[m.arg.Name]; ok {
			kindArgs = append(kindArgs, a)
			main = append(main, m)
		}
	}
	switch {
	case len(kindArgs) == 0:
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Check observes nothing",
			Detail:   fmt.Sprintf("Check %q must set one of %s, which says what it observes.", name, strings.Join(mainArgNames(), ", ")),
			Subject:  block.DefRange.Ptr(),
		})
	case len(kindArgs) > 1:
		return append(diags, attrError(kindArgs[1], "Check observes two things",
			fmt.Sprintf("Check %q sets both %q and %q; a check observes one thing. Write two checks.", name, kindArgs[0].Name, kindArgs[1].Name)))
	}
	kindArg := kindArgs[0]
	kind := main[0].kind
	c.Spec.Kind = kind
	kindDiags := f.decodeKind(&c.Spec, kindArg, main[0].arg)
	diags = append(diags, kindDiags...)
	// An option refines what the kind argument says; when that did not
	// evaluate there is nothing to refine. The options are still
	// evaluated, so that their own mistakes are reported at once.
	kindOK := !kindDiags.HasErrors() && c.Spec.HasSettings()
	diags = append(diags, f.decodeTiming(&c.Spec, content.Attributes)...)

	names := make([]string, 0, len(content.Attributes))
	for n := range content.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		readers, ok := checkArgs.options[n]
		if !ok {
			continue
		}
		attr := content.Attributes[n]
		i := slices.IndexFunc(readers, func(r kindArgument) bool { return r.kind == kind })
		if i < 0 {
			diags = append(diags, attrError(attr, "Argument does not apply",
				fmt.Sprintf("%q applies to %s checks; check %q is a %s check.", n, kindList(readers), name, kind)))
			continue
		}
		opt := readers[i].arg
		v, d := attrValue(attr, f.ctx, opt.Type)
		diags = append(diags, d...)
		if d.HasErrors() || v.IsNull() || !kindOK {
			continue
		}
		diags = append(diags, f.setArg(&c.Spec, attr, opt, v)...)
	}
	if !diags.HasErrors() {
		diags = append(diags, specDiagnostics(c.Spec, "check", content.Attributes, kindArg.Expr.Range())...)
	}
	return diags
}

// peerArgs maps the fields of a peer's facts.Spec to the arguments of
// the peer block they come from.
var peerArgs = map[string]string{"peer.url": "url", "peer.fingerprint": "fingerprint"}

// argOf returns the argument of a check or peer block that the Spec field
// path field comes from: the kind's argument that declares it, or the
// field itself ("every", "interface").
func argOf(kind facts.Kind, field string) string {
	if arg, ok := peerArgs[field]; ok && kind == facts.KindPeer {
		return arg
	}
	if k, ok := facts.Lookup(kind); ok {
		for _, a := range k.Args() {
			if a.Field != "" && a.Field == field {
				return a.Name
			}
		}
	}
	return field
}

// specDiagnostics validates spec and reports each problem at the argument
// it came from (at fallback when there is none).
func specDiagnostics(spec facts.Spec, kind string, attrs hcl.Attributes, fallback hcl.Range) hcl.Diagnostics {
	err := spec.Validate()
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var diags hcl.Diagnostics
	for _, e := range list {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + kind, Detail: e.Error() + ".", Subject: fallback.Ptr()}
		var fe *facts.FieldError
		if errors.As(e, &fe) {
			arg := argOf(spec.Kind, fe.Field)
			d.Detail = fmt.Sprintf("%s %q: %s: %s.", strings.ToUpper(kind[:1])+kind[1:], fe.Check, arg, fe.Problem)
			if attr, ok := attrs[arg]; ok {
				d.Subject = attr.Expr.Range().Ptr()
			}
		}
		diags = append(diags, d)
	}
	return diags
}

// decodeKind reads attr, the main argument arg of the check's kind,
// which creates the kind's settings in s.
func (f *fileDecoder) decodeKind(s *facts.Spec, attr *hcl.Attribute, arg facts.Arg) hcl.Diagnostics {
	var v cty.Value
	if arg.Type == cty.String {
		str, diags := requiredString(attr, f.ctx)
		if diags.HasErrors() {
			return diags
		}
		v = cty.StringVal(str)
	} else {
		var diags hcl.Diagnostics
		v, diags = attrValue(attr, f.ctx, arg.Type)
		if diags.HasErrors() || v.IsNull() {
			return diags
		}
		if d := f.setArg(s, attr, arg, v); d.HasErrors() {
			return append(diags, d...)
		}
		return diags
	}
	return f.setArg(s, attr, arg, v)
}

// decodeTiming reads every and timeout.
func (f *fileDecoder) decodeTiming(s *facts.Spec, attrs hcl.Attributes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, n := range []string{"every", "timeout"} {
		attr, ok := attrs[n]
		if !ok {
			continue
		}
		d, ds := f.duration(attr)
		diags = append(diags, ds...)
		if n == "every" && !ds.HasErrors() && d < MinCheckEvery {
			diags = append(diags, attrError(attr, "Interval too short",
				fmt.Sprintf("every is %s; checks run at most once every %s (a typo for \"1m\"?).", d, MinCheckEvery)))
		}
		if n == "every" {
			s.Every = d
		} else {
			s.Timeout = d
		}
	}
	if s.Every > 0 && s.Timeout > s.Every {
		diags = append(diags, attrError(attrs["timeout"], "Timeout longer than the interval",
			fmt.Sprintf("timeout (%s) must not be longer than every (%s): a run must end before the next one starts.", s.Timeout, s.Every)))
	}
	return diags
}

// duration evaluates a positive Go duration such as "30s".
func (f *fileDecoder) duration(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	v, diags := requiredString(attr, f.ctx)
	if diags.HasErrors() {
		return 0, diags
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, hcl.Diagnostics{attrError(attr, "Invalid duration",
			fmt.Sprintf("%q is not a positive duration; write it like \"30s\", \"5m\" or \"1h30m\".", v))}
	}
	return d, nil
}

// setArg stores v, the value of attr, with arg's Set, and reports a value
// that it cannot use at attr.
func (f *fileDecoder) setArg(s *facts.Spec, attr *hcl.Attribute, arg facts.Arg, v cty.Value) hcl.Diagnostics {
	err := arg.Set(s, v, facts.ArgContext{Path: f.path})
	if err == nil {
		return nil
	}
	var ae *facts.ArgError
	if errors.As(err, &ae) {
		return hcl.Diagnostics{attrError(attr, ae.Summary, ae.Detail)}
	}
	return hcl.Diagnostics{attrError(attr, "Invalid "+attr.Name, err.Error()+".")}
}

func (f *fileDecoder) decodePeer(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	c := &Check{Name: name, DeclRange: labelRange, Spec: facts.Spec{Name: name, Kind: facts.KindPeer, Peer: &facts.PeerSpec{}}}
	diags := checkLabel("peer", name, labelRange)
	diags = append(diags, f.register("peer", name, labelRange, block, f.l.peers)...)
	if !diags.HasErrors() {
		f.l.peers[name] = labelRange
		f.l.cfg.Peers = append(f.l.cfg.Peers, c)
	}
	content, d := block.Body.Content(peerSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["url"]; ok {
		v, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		c.Spec.Peer.URL = v
	}
	if attr, ok := content.Attributes["ca_file"]; ok {
		v, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		c.Spec.Peer.CAFile = f.path(v)
	}
	if attr, ok := content.Attributes["tls_skip_verify"]; ok {
		v, d := attrValue(attr, f.ctx, cty.Bool)
		diags = append(diags, d...)
		c.Spec.Peer.TLSSkipVerify = !d.HasErrors() && !v.IsNull() && v.True()
	}
	diags = append(diags, f.peerSecurity(c.Spec.Peer, content.Attributes)...)
	diags = append(diags, f.decodeTiming(&c.Spec, content.Attributes)...)
	if !diags.HasErrors() {
		diags = append(diags, specDiagnostics(c.Spec, "peer", content.Attributes, labelRange)...)
	}
	return diags
}

// register reports a second block of kind with the same name.
func (f *fileDecoder) register(kind, name string, labelRange hcl.Range, block *hcl.Block, seen map[string]hcl.Range) hcl.Diagnostics {
	prev, dup := seen[name]
	if !dup {
		return nil
	}
	return hcl.Diagnostics{duplicateName(kind, name, prev, labelRange, block)}
}

// duplicateName is the error for a block of kind named like one declared
// at prev: names are unique across all files.
func duplicateName(kind, name string, prev, labelRange hcl.Range, block *hcl.Block) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + kind,
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. %s names must be unique across all files.", kind, name, where(prev), strings.ToUpper(kind[:1])+kind[1:]),
		Subject:  labelRange.Ptr(),
		Context:  block.DefRange.Ptr(),
	}
}

// mainArgNames lists the arguments that say what a check observes.
func mainArgNames() []string {
	names := make([]string, len(checkArgs.main))
	for i, m := range checkArgs.main {
		names[i] = m.arg.Name
	}
	return names
}

// kindList lists the kinds that read an option.
func kindList(l []kindArgument) string {
	s := make([]string, len(l))
	for i, k := range l {
		s[i] = string(k.kind)
	}
	return strings.Join(s, ", ")
}
