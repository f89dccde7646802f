package config

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
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

// checkKinds are the arguments that say what a check observes; a check
// sets exactly one of them. shell is the command kind run through
// /bin/sh -c.
var checkKinds = []string{"tcp", "dns", "http", "ping", "interface", "file", "command", "shell"}

// checkOption is an optional argument of a check and the kinds it applies
// to.
type checkOption struct {
	name  string
	ty    cty.Type
	kinds []facts.Kind
}

var checkOptions = []checkOption{
	{"json", cty.Bool, []facts.Kind{facts.KindFile, facts.KindCommand}},
	{"dns_type", cty.String, []facts.Kind{facts.KindDNS}},
	{"dns_server", cty.String, []facts.Kind{facts.KindDNS}},
	{"method", cty.String, []facts.Kind{facts.KindHTTP}},
	{"headers", cty.Map(cty.String), []facts.Kind{facts.KindHTTP}},
	{"expect_status", cty.List(cty.Number), []facts.Kind{facts.KindHTTP}},
	{"ca_file", cty.String, []facts.Kind{facts.KindHTTP}},
	{"tls_skip_verify", cty.Bool, []facts.Kind{facts.KindHTTP}},
	{"count", cty.Number, []facts.Kind{facts.KindPing}},
	{"interface_name", cty.String, []facts.Kind{facts.KindInterface}},
	{"env", cty.Map(cty.String), []facts.Kind{facts.KindCommand}},
	{"dir", cty.String, []facts.Kind{facts.KindCommand}},
	{"max_bytes", cty.Number, []facts.Kind{facts.KindHTTP, facts.KindFile, facts.KindCommand}},
}

var checkSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "every"}, {Name: "timeout"}}}
	for _, k := range checkKinds {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: k})
	}
	for _, o := range checkOptions {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: o.name})
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
	},
}

// kindOf maps a kind argument to the facts kind.
func kindOf(arg string) facts.Kind {
	if arg == "shell" {
		return facts.KindCommand
	}
	return facts.Kind(arg)
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
	for _, k := range checkKinds {
		if a, ok := content.Attributes[k]; ok {
			kindArgs = append(kindArgs, a)
		}
	}
	switch {
	case len(kindArgs) == 0:
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Check observes nothing",
			Detail:   fmt.Sprintf("Check %q must set one of %s, which says what it observes.", name, strings.Join(checkKinds, ", ")),
			Subject:  block.DefRange.Ptr(),
		})
	case len(kindArgs) > 1:
		return append(diags, attrError(kindArgs[1], "Check observes two things",
			fmt.Sprintf("Check %q sets both %q and %q; a check observes one thing. Write two checks.", name, kindArgs[0].Name, kindArgs[1].Name)))
	}
	kindArg := kindArgs[0]
	kind := kindOf(kindArg.Name)
	c.Spec.Kind = kind
	kindDiags := f.decodeKind(&c.Spec, kindArg)
	diags = append(diags, kindDiags...)
	// An option refines what the kind argument says; when that did not
	// evaluate there is nothing to refine. The options are still
	// evaluated, so that their own mistakes are reported at once.
	kindOK := !kindDiags.HasErrors() && kindDecoded(&c.Spec)
	diags = append(diags, f.decodeTiming(&c.Spec, content.Attributes)...)

	names := make([]string, 0, len(content.Attributes))
	for n := range content.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		opt, ok := optionNamed(n)
		if !ok {
			continue
		}
		attr := content.Attributes[n]
		if !kindIn(kind, opt.kinds) {
			diags = append(diags, attrError(attr, "Argument does not apply",
				fmt.Sprintf("%q applies to %s checks; check %q is a %s check.", n, kindList(opt.kinds), name, kind)))
			continue
		}
		v, d := attrValue(attr, f.ctx, opt.ty)
		diags = append(diags, d...)
		if d.HasErrors() || v.IsNull() || !kindOK {
			continue
		}
		diags = append(diags, f.applyOption(&c.Spec, attr, v)...)
	}
	if !diags.HasErrors() {
		diags = append(diags, specDiagnostics(c.Spec, "check", content.Attributes, kindArg.Expr.Range())...)
	}
	return diags
}

// hclArgs maps the fields of a facts.Spec to the arguments they come from.
var hclArgs = map[string]string{
	"tcp.address": "tcp", "dns.name": "dns", "dns.type": "dns_type", "dns.server": "dns_server",
	"http.url": "http", "http.method": "method", "http.headers": "headers", "http.expect_status": "expect_status", "http.max_body": "max_bytes",
	"ping.address": "ping", "ping.count": "count", "interface.address": "interface", "interface.name": "interface_name",
	"file.path": "file", "file.max_bytes": "max_bytes", "command.argv": "command", "command.shell": "shell", "command.env": "env", "command.max_output": "max_bytes",
	"peer.url": "url", "peer.fingerprint": "fingerprint", "every": "every", "timeout": "timeout",
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
			arg := hclArgs[fe.Field]
			if arg == "" {
				arg = fe.Field
			}
			d.Detail = fmt.Sprintf("%s %q: %s: %s.", strings.ToUpper(kind[:1])+kind[1:], fe.Check, arg, fe.Problem)
			if attr, ok := attrs[arg]; ok {
				d.Subject = attr.Expr.Range().Ptr()
			}
		}
		diags = append(diags, d)
	}
	return diags
}

func (f *fileDecoder) decodeKind(s *facts.Spec, attr *hcl.Attribute) hcl.Diagnostics {
	if attr.Name == "command" {
		v, diags := attrValue(attr, f.ctx, cty.List(cty.String))
		if diags.HasErrors() || v.IsNull() {
			return diags
		}
		var argv []string
		for _, e := range v.AsValueSlice() {
			if e.IsNull() {
				return append(diags, attrError(attr, "Invalid command", "A command's elements must not be null."))
			}
			argv = append(argv, e.AsString())
		}
		if len(argv) == 0 {
			return append(diags, attrError(attr, "Invalid command", "A command needs at least the program, as in [\"/usr/bin/check\", \"--quiet\"]. To run a shell line, use shell = \"...\" instead."))
		}
		s.Command = &facts.CommandSpec{Argv: argv}
		return diags
	}
	v, diags := requiredString(attr, f.ctx)
	if diags.HasErrors() {
		return diags
	}
	switch attr.Name {
	case "tcp":
		s.TCP = &facts.TCPSpec{Address: v}
	case "dns":
		s.DNS = &facts.DNSSpec{Name: v}
	case "http":
		s.HTTP = &facts.HTTPSpec{URL: v}
	case "ping":
		s.Ping = &facts.PingSpec{Address: v}
	case "interface":
		if _, err := netip.ParseAddr(v); err == nil {
			s.Interface = &facts.InterfaceSpec{Address: v}
		} else {
			s.Interface = &facts.InterfaceSpec{Name: v}
		}
	case "file":
		s.File = &facts.FileSpec{Path: f.path(v)}
	case "shell":
		s.Command = &facts.CommandSpec{Shell: v}
	}
	return nil
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

// kindDecoded reports whether the part of s that its kind needs is set,
// which applyOption relies on.
func kindDecoded(s *facts.Spec) bool {
	switch s.Kind {
	case facts.KindTCP:
		return s.TCP != nil
	case facts.KindDNS:
		return s.DNS != nil
	case facts.KindHTTP:
		return s.HTTP != nil
	case facts.KindPing:
		return s.Ping != nil
	case facts.KindInterface:
		return s.Interface != nil
	case facts.KindFile:
		return s.File != nil
	case facts.KindCommand:
		return s.Command != nil
	}
	return false
}

// applyOption sets the option attr to v in s, whose kind argument was
// decoded (kindDecoded) and to which the option applies.
func (f *fileDecoder) applyOption(s *facts.Spec, attr *hcl.Attribute, v cty.Value) hcl.Diagnostics {
	switch attr.Name {
	case "json":
		if s.File != nil {
			s.File.JSON = v.True()
		} else {
			s.Command.JSON = v.True()
		}
	case "dns_type":
		s.DNS.Type = v.AsString()
	case "dns_server":
		s.DNS.Server = v.AsString()
	case "method":
		s.HTTP.Method = v.AsString()
	case "headers":
		s.HTTP.Headers = map[string]string{}
		for k, e := range v.AsValueMap() {
			s.HTTP.Headers[k] = e.AsString()
		}
	case "expect_status":
		for _, e := range v.AsValueSlice() {
			n, ok := wholeNumber(e)
			if !ok {
				return hcl.Diagnostics{attrError(attr, "Invalid status", "expect_status holds whole HTTP status codes, such as [200, 204].")}
			}
			s.HTTP.ExpectStatus = append(s.HTTP.ExpectStatus, int(n))
		}
	case "ca_file":
		s.HTTP.CAFile = f.path(v.AsString())
	case "tls_skip_verify":
		s.HTTP.TLSSkipVerify = v.True()
	case "count":
		n, ok := wholeNumber(v)
		if !ok {
			return hcl.Diagnostics{attrError(attr, "Invalid count", "count is a whole number of echo requests, such as 3.")}
		}
		s.Ping.Count = int(n)
	case "interface_name":
		s.Interface.Name = v.AsString()
	case "env":
		keys := make([]string, 0, v.LengthInt())
		m := v.AsValueMap()
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s.Command.Env = append(s.Command.Env, k+"="+m[k].AsString())
		}
	case "dir":
		s.Command.Dir = f.path(v.AsString())
	case "max_bytes":
		n, ok := wholeNumber(v)
		if !ok || n <= 0 {
			return hcl.Diagnostics{attrError(attr, "Invalid size", "max_bytes is a positive whole number of bytes.")}
		}
		switch s.Kind {
		case facts.KindHTTP:
			s.HTTP.MaxBody = n
		case facts.KindFile:
			s.File.MaxBytes = n
		case facts.KindCommand:
			s.Command.MaxOutput = n
		}
	}
	return nil
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

func optionNamed(name string) (checkOption, bool) {
	for _, o := range checkOptions {
		if o.name == name {
			return o, true
		}
	}
	return checkOption{}, false
}

func kindIn(k facts.Kind, l []facts.Kind) bool {
	for _, x := range l {
		if x == k {
			return true
		}
	}
	return false
}

func kindList(l []facts.Kind) string {
	s := make([]string, len(l))
	for i, k := range l {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// wholeNumber returns v as an int64 when it is a whole number.
func wholeNumber(v cty.Value) (int64, bool) {
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
