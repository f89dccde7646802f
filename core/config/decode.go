package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/mail"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "agent"},
		{Type: "transport", LabelNames: []string{"name"}},
		{Type: "contact", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "peer", LabelNames: []string{"name"}},
		{Type: "node"},
		{Type: "rule", LabelNames: []string{"name"}},
		{Type: "library", LabelNames: []string{"name"}},
		{Type: "delivery"},
		{Type: "credential", LabelNames: []string{"name"}},
	},
}

// agentAttrs lists the agent arguments in the order they are decoded.
var agentAttrs = []string{"node", "data_dir", "plugin_dir", "local_plugin_dir", "listen", "log_level", "log_json", "mute", "token_key_file", "token_key_env",
	"tls_cert_file", "tls_key_file", "tls_client_ca_file", "insecure_plain_http"}

var agentSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range agentAttrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

var transportSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "plugin", Required: true},
		{Name: "from", Required: true},
		{Name: "path"},
		{Name: "sha256"},
		{Name: "rate_limit"},
		{Name: "send_timeout"},
		{Name: "test_to"},
		{Name: "client_secret_expires"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "config"}},
}

var contactSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "email", Required: true},
		{Name: "via", Required: true},
	},
}

// fileDecoder decodes the blocks of one file into its loader's Config.
type fileDecoder struct {
	l   *loader
	dir string // absolute directory of the file
	ctx *hcl.EvalContext
}

func (f *fileDecoder) decode(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(rootSchema)
	for _, b := range content.Blocks {
		switch b.Type {
		case "agent":
			diags = append(diags, f.decodeAgent(b)...)
		case "transport":
			diags = append(diags, f.decodeTransport(b)...)
		case "contact":
			diags = append(diags, f.decodeContact(b)...)
		case "check":
			diags = append(diags, f.decodeCheck(b)...)
		case "peer":
			diags = append(diags, f.decodePeer(b)...)
		case "node":
			diags = append(diags, f.decodeNode(b)...)
		case "rule":
			diags = append(diags, f.decodeRule(b)...)
		case "library":
			diags = append(diags, f.decodeLibrary(b)...)
		case "delivery":
			diags = append(diags, f.decodeDelivery(b)...)
		case "credential":
			diags = append(diags, f.decodeCredential(b)...)
		}
	}
	return diags
}

func (f *fileDecoder) decodeAgent(block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(agentSchema)
	a := &f.l.cfg.Agent
	for _, name := range agentAttrs {
		attr, ok := content.Attributes[name]
		if !ok {
			continue
		}
		ty := cty.String
		if name == "log_json" || name == "mute" || name == "insecure_plain_http" {
			ty = cty.Bool
		}
		v, d := attrValue(attr, f.ctx, ty)
		diags = append(diags, d...)
		if v != cty.NilVal && v.IsNull() {
			continue // null means not set
		}
		if prev, set := f.l.agentSet[name]; set {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate agent argument",
				Detail:   fmt.Sprintf("The agent argument %q was already set at %s. Each agent argument may be set in one place only, across all files.", name, where(prev)),
				Subject:  attr.NameRange.Ptr(),
				Context:  attr.Range.Ptr(),
			})
			continue
		}
		f.l.agentSet[name] = attr.NameRange
		if d.HasErrors() {
			continue
		}
		switch name {
		case "node":
			diags = append(diags, nonEmpty(attr, v)...)
			a.Node = v.AsString()
		case "data_dir":
			diags = append(diags, nonEmpty(attr, v)...)
			a.DataDir = f.path(v.AsString())
		case "plugin_dir":
			diags = append(diags, nonEmpty(attr, v)...)
			a.PluginDir = f.path(v.AsString())
		case "local_plugin_dir":
			a.LocalPluginDir = f.path(v.AsString())
		case "listen":
			s := v.AsString()
			a.Listen = s
			if err := checkListen(s); err != nil {
				diags = append(diags, attrError(attr, "Invalid listen address",
					fmt.Sprintf("The listen address must be host:port, such as %q: %s.", DefaultListen, err)))
			}
		case "log_level":
			s := v.AsString()
			a.LogLevel = s
			if !contains(LogLevels, s) {
				detail := fmt.Sprintf("The log level %q is not one of %s.", s, strings.Join(LogLevels, ", "))
				if sug := levelSuggestion(s); sug != "" {
					detail += fmt.Sprintf(" Did you mean %q?", sug)
				}
				diags = append(diags, attrError(attr, "Invalid log level", detail))
			}
		case "log_json":
			a.LogJSON = v.True()
		case "mute":
			a.Mute = v.True()
		case "token_key_file":
			diags = append(diags, nonEmpty(attr, v)...)
			a.TokenKeyFile = f.path(v.AsString())
		case "tls_cert_file":
			diags = append(diags, nonEmpty(attr, v)...)
			a.TLSCertFile = f.path(v.AsString())
		case "tls_key_file":
			diags = append(diags, nonEmpty(attr, v)...)
			a.TLSKeyFile = f.path(v.AsString())
		case "tls_client_ca_file":
			diags = append(diags, nonEmpty(attr, v)...)
			a.TLSClientCAFile = f.path(v.AsString())
		case "insecure_plain_http":
			a.InsecurePlainHTTP = v.True()
		case "token_key_env":
			s := v.AsString()
			a.TokenKeyEnv = s
			if !validEnvName(s) {
				diags = append(diags, attrError(attr, "Invalid environment variable name",
					fmt.Sprintf("token_key_env names the environment variable that holds the token key, such as \"TOCSIN_TOKEN_KEY\"; %q is not a valid name (letters, digits and underscores, not starting with a digit).", s)))
			}
		}
	}
	return diags
}

func (f *fileDecoder) decodeTransport(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	t := &Transport{
		Name:        name,
		DeclRange:   labelRange,
		PluginRange: block.DefRange,
		defRange:    block.DefRange,
		ctx:         f.ctx,
		attrRanges:  map[string]hcl.Range{},
	}
	diags := checkLabel("transport", name, labelRange)
	if prev, dup := f.l.transports[name]; dup {
		diags = append(diags, duplicateName("transport", name, prev.DeclRange, labelRange, block))
	} else {
		f.l.transports[name] = t
		f.l.cfg.Transports = append(f.l.cfg.Transports, t)
	}

	content, d := block.Body.Content(transportSchema)
	diags = append(diags, d...)

	if attr, ok := content.Attributes["plugin"]; ok {
		t.PluginRange = attr.Expr.Range()
		if v, d := requiredString(attr, f.ctx); d != nil {
			diags = append(diags, d...)
		} else {
			t.Plugin = v
			if !sdk.ValidPluginName(v) {
				diags = append(diags, attrError(attr, "Invalid plugin name",
					fmt.Sprintf("The plugin name %q is not valid: it must start with a lower-case letter or a digit and hold only lower-case letters, digits and dashes, such as \"smtp-basic\".", v)))
			}
		}
	}
	if attr, ok := content.Attributes["from"]; ok {
		if v, d := requiredString(attr, f.ctx); d != nil {
			diags = append(diags, d...)
		} else {
			t.From = strings.TrimSpace(v)
			if _, err := mail.ParseAddress(v); err != nil {
				diags = append(diags, addressError(attr.Expr.Range(), attr, v, err))
			}
		}
	}
	if attr, ok := content.Attributes["path"]; ok {
		v, d := attrValue(attr, f.ctx, cty.String)
		diags = append(diags, d...)
		if !d.HasErrors() && !v.IsNull() {
			diags = append(diags, nonEmpty(attr, v)...)
			if v.AsString() != "" {
				t.Path = f.path(v.AsString())
			}
		}
	}
	if attr, ok := content.Attributes["sha256"]; ok {
		v, d := attrValue(attr, f.ctx, cty.String)
		diags = append(diags, d...)
		if !d.HasErrors() && !v.IsNull() {
			s := strings.ToLower(strings.TrimSpace(v.AsString()))
			if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
				diags = append(diags, attrError(attr, "Invalid sha256",
					fmt.Sprintf("The sha256 of the plugin binary must be 64 hexadecimal digits, as printed by sha256sum; this value has %d characters.", len(s))))
			} else {
				t.SHA256 = s
			}
		}
	}
	if attr, ok := content.Attributes["rate_limit"]; ok {
		v, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			r, err := ParseRate(v)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid rate_limit", err.Error()+"."))
			} else {
				t.RateLimit = r
			}
		}
	}
	if attr, ok := content.Attributes["send_timeout"]; ok {
		d, ds := f.duration(attr)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			t.SendTimeout = d
		}
	}
	if attr, ok := content.Attributes["test_to"]; ok {
		var d hcl.Diagnostics
		t.TestTo, d = f.addresses(attr)
		diags = append(diags, d...)
	}
	diags = append(diags, f.decodeSecretExpires(t, content.Attributes)...)
	for i, b := range content.Blocks {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate config block",
				Detail:   fmt.Sprintf("A transport takes at most one config block; the first one is at %s.", where(content.Blocks[0].DefRange)),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		t.body = b.Body
		t.configRange = b.DefRange
		t.attrRanges = exprRanges(b.Body)
	}
	return diags
}

func (f *fileDecoder) decodeContact(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	c := &Contact{Name: name, DeclRange: labelRange}
	diags := checkLabel("contact", name, labelRange)
	if prev, dup := f.l.contacts[name]; dup {
		diags = append(diags, duplicateName("contact", name, prev.DeclRange, labelRange, block))
	} else {
		f.l.contacts[name] = c
		f.l.cfg.Contacts = append(f.l.cfg.Contacts, c)
	}

	content, d := block.Body.Content(contactSchema)
	diags = append(diags, d...)

	if attr, ok := content.Attributes["email"]; ok {
		diags = append(diags, f.decodeEmail(c, attr)...)
	}
	if attr, ok := content.Attributes["via"]; ok {
		diags = append(diags, f.decodeVia(c, attr)...)
	}
	return diags
}

func (f *fileDecoder) decodeEmail(c *Contact, attr *hcl.Attribute) hcl.Diagnostics {
	v, diags := attrValue(attr, f.ctx, cty.List(cty.String))
	if diags.HasErrors() {
		return diags
	}
	if v.IsNull() || v.LengthInt() == 0 {
		return append(diags, attrError(attr, "No email address",
			"A contact needs at least one address, such as email = [\"ops@example.com\"]."))
	}
	var d hcl.Diagnostics
	c.Email, d = addressList(attr, v)
	return append(diags, d...)
}

// addresses reads attr as a list of email addresses: a transport's
// test_to. A null or empty list is none.
func (f *fileDecoder) addresses(attr *hcl.Attribute) ([]string, hcl.Diagnostics) {
	v, diags := attrValue(attr, f.ctx, cty.List(cty.String))
	if diags.HasErrors() || v.IsNull() {
		return nil, diags
	}
	out, d := addressList(attr, v)
	return out, append(diags, d...)
}

// addressList returns the addresses of the list v, attr's value (each
// accepted by net/mail, trimmed), pointing at the element that is not
// one: a contact's email, a transport's test_to.
func addressList(attr *hcl.Attribute, v cty.Value) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	// Point at the element when the list is written out.
	elems, d := hcl.ExprList(attr.Expr)
	if d.HasErrors() || len(elems) != v.LengthInt() {
		elems = nil
	}
	var out []string
	for i, ev := range v.AsValueSlice() {
		rng := attr.Expr.Range()
		if elems != nil {
			rng = elems[i].Range()
		}
		if ev.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid email address",
				Detail:   "An email address must not be null.",
				Subject:  rng.Ptr(),
			})
			continue
		}
		s := strings.TrimSpace(ev.AsString())
		if _, err := mail.ParseAddress(s); err != nil {
			diags = append(diags, addressError(rng, attr, s, err))
			continue
		}
		out = append(out, s)
	}
	return out, diags
}

// decodeVia reads the via list statically: each element is transport.NAME
// or a string. The names are checked once all files are loaded.
func (f *fileDecoder) decodeVia(c *Contact, attr *hcl.Attribute) hcl.Diagnostics {
	elems, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return hcl.Diagnostics{attrError(attr, "Invalid via",
			"The via argument must be a list of transports in fallback order, such as [transport.o365, transport.relay].")}
	}
	if len(elems) == 0 {
		return hcl.Diagnostics{attrError(attr, "No transport",
			"A contact needs at least one transport, such as via = [transport.relay].")}
	}
	seen := map[string]bool{}
	for _, el := range elems {
		name, d := refName(el, f.ctx, "via", "transport")
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if seen[name] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Transport listed twice",
				Detail:   fmt.Sprintf("Contact %q lists transport %q more than once; only the first one counts.", c.Name, name),
				Subject:  el.Range().Ptr(),
			})
			continue
		}
		seen[name] = true
		c.Via = append(c.Via, name)
		f.l.vias = append(f.l.vias, viaRef{contact: c, name: name, rng: el.Range()})
	}
	return diags
}

// refName returns the block an element of the reference list arg names:
// KIND.NAME (or KIND["NAME"]), or a string.
func refName(el hcl.Expression, ctx *hcl.EvalContext, arg, kind string) (string, hcl.Diagnostics) {
	bad := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + kind + " reference",
		Detail:   fmt.Sprintf("Each element of %s must name a %s, as %s.NAME or as a string such as \"NAME\".", arg, kind, kind),
		Subject:  el.Range().Ptr(),
	}}
	if trav, d := hcl.AbsTraversalForExpr(el); !d.HasErrors() {
		if trav.RootName() != kind || len(trav) != 2 {
			return "", bad
		}
		switch step := trav[1].(type) {
		case hcl.TraverseAttr:
			return step.Name, nil
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() && !step.Key.IsNull() {
				return step.Key.AsString(), nil
			}
		}
		return "", bad
	}
	v, diags := el.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String {
		return "", bad
	}
	return v.AsString(), diags
}

// path makes p absolute, relative to the file's directory.
func (f *fileDecoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

// attrValue evaluates attr and converts the value to ty (hcldecode.Value).
func attrValue(attr *hcl.Attribute, ctx *hcl.EvalContext, ty cty.Type) (cty.Value, hcl.Diagnostics) {
	return hcldecode.Value(attr, ctx, ty)
}

// requiredString evaluates a required string argument; null counts as
// missing. It returns nil diagnostics on success.
func requiredString(attr *hcl.Attribute, ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	v, diags := attrValue(attr, ctx, cty.String)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() {
		return "", append(diags, attrError(attr, "Missing required argument",
			fmt.Sprintf("The argument %q is required; null does not set it.", attr.Name)))
	}
	if d := nonEmpty(attr, v); d.HasErrors() {
		return "", append(diags, d...)
	}
	return v.AsString(), nil
}

// nonEmpty reports a string value that is empty or only spaces.
// checkTokenKey reports token_key_file and token_key_env set together,
// in any files.
func (l *loader) checkTokenKey() hcl.Diagnostics {
	_, fileSet := l.agentSet["token_key_file"]
	env, envSet := l.agentSet["token_key_env"]
	if !fileSet || !envSet {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Conflicting token key settings",
		Detail:   "Set token_key_file or token_key_env, not both: the token key lives in one place.",
		Subject:  env.Ptr(),
	}}
}

// validEnvName reports whether s can name an environment variable.
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func nonEmpty(attr *hcl.Attribute, v cty.Value) hcl.Diagnostics {
	if strings.TrimSpace(v.AsString()) != "" {
		return nil
	}
	return hcl.Diagnostics{attrError(attr, "Empty value", fmt.Sprintf("The argument %q must not be empty.", attr.Name))}
}

// attrError is an error about the value of attr.
func attrError(attr *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return hcldecode.AttrError(attr, summary, detail)
}

// addressError reports an address net/mail does not accept.
func addressError(rng hcl.Range, attr *hcl.Attribute, addr string, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid email address",
		Detail: fmt.Sprintf("%q is not an email address (%s). Write one address, as \"ops@example.com\" or \"Ops <ops@example.com>\".",
			addr, strings.TrimPrefix(err.Error(), "mail: ")),
		Subject: rng.Ptr(),
		Context: hcl.RangeBetween(attr.NameRange, attr.Expr.Range()).Ptr(),
	}
}

// checkLabel reports a block name that is not an identifier.
func checkLabel(kind, name string, rng hcl.Range) hcl.Diagnostics {
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s name", kind),
		Detail: fmt.Sprintf("A %s name must be an identifier: letters, digits, underscores and dashes, not starting with a digit, so that it can be written as %s.NAME; %q is not one.",
			kind, kind, name),
		Subject: rng.Ptr(),
	}}
}

// exprRanges maps each argument of body to the range of its expression.
func exprRanges(body hcl.Body) map[string]hcl.Range {
	out := map[string]hcl.Range{}
	if sb, ok := body.(*hclsyntax.Body); ok {
		for name, a := range sb.Attributes {
			if a != nil && a.Expr != nil {
				out[name] = a.Expr.Range()
			}
		}
		return out
	}
	attrs, _ := body.JustAttributes()
	for name, a := range attrs {
		out[name] = a.Expr.Range()
	}
	return out
}

// levelSuggestion returns the log level the operator probably meant, such
// as "warn" for "warning" or "info" for "INFO".
func levelSuggestion(s string) string {
	lower := strings.ToLower(s)
	for _, l := range LogLevels {
		if strings.HasPrefix(lower, l) {
			return l
		}
	}
	return nameSuggestion(lower, LogLevels)
}

// checkListen accepts host:port with a port; the host may be empty (all
// addresses).
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if port == "" {
		return fmt.Errorf("%q has no port", s)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
