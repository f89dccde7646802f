package library

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// Failover is the name of the failover library.
const Failover = "failover"

// Names lists the names a library block may have.
var Names = []string{Failover}

// Defaults of the failover library's settings.
const (
	DefaultHeartbeat          = "0 8 * * *"
	DefaultTakeoverAfter      = "5m"
	DefaultBackupLostAfter    = "10m"
	DefaultDeliveryAlertAfter = "15m"
	// DefaultSettingsUnsyncedAfter is how long settings_unsynced waits
	// for a sync of the settings from the primary.
	DefaultSettingsUnsyncedAfter = "24h"
)

// TakeoverGrace is how much longer than takeover_after the primary may
// stay silent, with automatic failover on and the role read from the
// product, before takeover_overdue says that no takeover happened: the
// product's own detection and the period of the check that reads the
// role. library.takeover_overdue_after is takeover_after plus this.
const TakeoverGrace = 5 * time.Minute

// The names of the checks and the peer the failover library declares.
// shared_ip_N and test_ip_N are numbered from 0 in the order of the
// settings' lists.
const (
	PartnerPeer          = "partner"
	SelfCheck            = "self"
	PrimaryHostnameCheck = "primary_hostname"
	SyncCheck            = "sync"
	sharedIPCheckPrefix  = "shared_ip_"
	testIPCheckPrefix    = "test_ip_"
	// libraryVariable is the variable a library rule reads its settings from.
	libraryVariable = "library"
)

// Schema is the schema of a library "failover" block.
var Schema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "role", Required: true},
		{Name: "peer_url", Required: true},
		{Name: "peer_fingerprint"},
		{Name: "peer_ca_file"},
		{Name: "peer_token_file"},
		{Name: "peer_insecure"},
		{Name: "notify", Required: true},
		{Name: "version"},
		{Name: "auto_failover"},
		{Name: "backup_ops"},
		{Name: "primary_hostname"},
		{Name: "shared_ips"},
		{Name: "shared_ip_interface"},
		{Name: "test_ips"},
		{Name: "sync_file"},
		{Name: "takeover_after"},
		{Name: "backup_lost_after"},
		{Name: "log_file"},
		{Name: "heartbeat"},
		{Name: "self_check"},
		{Name: "disable"},
		{Name: "evaluate_every"},
		{Name: "delivery_alert_after"},
		{Name: "delivery_alert_contact"},
		{Name: "take_settings_from_primary"},
		{Name: "settings_unsynced_after"},
	},
}

// Env is what decoding a library block needs from the loader of the file
// it is written in.
type Env interface {
	// EvalContext is the context the settings are evaluated in (with
	// env() and file(), and no variables).
	EvalContext() *hcl.EvalContext
	// String evaluates a string setting that must not be null or empty.
	String(attr *hcl.Attribute) (string, hcl.Diagnostics)
	// Path makes a path setting absolute, relative to the file's
	// directory.
	Path(p string) string
	// PeerSecurity decodes the settings of a peer's link (attrs are named
	// as in a peer block: fingerprint, token_file, insecure) into ps.
	PeerSecurity(ps *facts.PeerSpec, attrs hcl.Attributes) hcl.Diagnostics
	// ContactRef returns the contact an element of the list arg names:
	// contact.NAME or a string.
	ContactRef(el hcl.Expression, arg string) (string, hcl.Diagnostics)
}

// Block is a decoded library "failover" block, expanded (see Expand)
// once every file is loaded.
type Block struct {
	defRange hcl.Range // `library "failover"`
	attrs    hcl.Attributes
	failed   bool // decoding reported errors: expand nothing

	// Node facts: literals when the setting reads no facts, else the
	// operator's expression.
	role, version, autoFailover hcl.Expression
	// backupOps is evaluated at every evaluation of the rules that read
	// library.backup_ops.
	backupOps hcl.Expression

	peerURL string
	// peer holds the partner's link settings from peer_fingerprint,
	// peer_ca_file, peer_token_file and peer_insecure.
	peer               facts.PeerSpec
	primaryHostname    string
	sharedIPs          []hcldecode.Ranged
	sharedIPInterface  string
	testIPs            []hcldecode.Ranged
	syncFile           string
	takeoverAfter      string
	backupLostAfter    string
	deliveryAlertAfter string
	// settingsUnsyncedAfter is settings_unsynced_after.
	settingsUnsyncedAfter string
	// deliveryAlert names the contacts delivery_failing notifies.
	deliveryAlert []hcldecode.Ranged
	evaluateEvery time.Duration // 0: the rules' own schedules
	logFile       string
	heartbeat     string
	selfCheck     []string
	disable       []hcldecode.Ranged
}

// DefRange is the range of the block's `library "failover"`.
func (lib *Block) DefRange() hcl.Range { return lib.defRange }

// Failed reports whether decoding the block reported errors: then it
// expands into nothing.
func (lib *Block) Failed() bool { return lib.failed }

// Decode decodes a library "failover" block, whose name the caller has
// checked. What it declares is added by Expand once every file is loaded,
// so that it sees the merged agent and node settings.
func Decode(block *hcl.Block, env Env) (*Block, hcl.Diagnostics) {
	lib := &Block{defRange: block.DefRange, takeoverAfter: DefaultTakeoverAfter, backupLostAfter: DefaultBackupLostAfter, heartbeat: DefaultHeartbeat,
		deliveryAlertAfter: DefaultDeliveryAlertAfter, settingsUnsyncedAfter: DefaultSettingsUnsyncedAfter}
	content, diags := block.Body.Content(Schema)
	lib.attrs = content.Attributes
	a := content.Attributes
	ctx := env.EvalContext()

	if attr, ok := a["role"]; ok {
		expr, d := factSetting(attr, ctx, cty.String, []string{"check", "peer"}, func(v cty.Value) string {
			if s := v.AsString(); s != "primary" && s != "backup" {
				return fmt.Sprintf("role is \"primary\" or \"backup\" (the role this node has in the pair), not %q.", s)
			}
			return ""
		})
		diags = append(diags, d...)
		lib.role = expr
	}
	if attr, ok := a["version"]; ok {
		expr, d := factSetting(attr, ctx, cty.String, []string{"check", "peer"}, nil)
		diags = append(diags, d...)
		lib.version = expr
	}
	if attr, ok := a["auto_failover"]; ok {
		expr, d := factSetting(attr, ctx, cty.Bool, []string{"check", "peer"}, nil)
		diags = append(diags, d...)
		lib.autoFailover = expr
	}
	if attr, ok := a["backup_ops"]; ok {
		expr, d := factSetting(attr, ctx, cty.Bool, []string{"check", "peer", "node"}, nil)
		diags = append(diags, d...)
		lib.backupOps = expr
	}
	strSetting := func(name string, dst *string, isPath bool) {
		attr, ok := a[name]
		if !ok {
			return
		}
		v, d := env.String(attr)
		diags = append(diags, d...)
		if d.HasErrors() {
			return
		}
		v = strings.TrimSpace(v)
		if isPath {
			v = env.Path(v)
		}
		*dst = v
	}
	strSetting("peer_url", &lib.peerURL, false)
	strSetting("peer_ca_file", &lib.peer.CAFile, true)
	peerAttrs := hcl.Attributes{}
	for setting, arg := range map[string]string{"peer_fingerprint": "fingerprint", "peer_token_file": "token_file", "peer_insecure": "insecure", "take_settings_from_primary": "settings_from"} {
		if attr, ok := a[setting]; ok {
			peerAttrs[arg] = attr
		}
	}
	diags = append(diags, env.PeerSecurity(&lib.peer, peerAttrs)...)
	if attr, ok := a["take_settings_from_primary"]; ok && lib.peer.SettingsFrom {
		if lit, isLit := lib.role.(*hclsyntax.LiteralValueExpr); isLit && lit.Val.Type() == cty.String && lit.Val.AsString() == "primary" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "The primary takes its settings from the backup",
				Detail:  "take_settings_from_primary is for the backup: here, with role = \"primary\", it takes the transports and contacts of the partner. Set it in the backup's library block only.",
				Subject: attr.Range.Ptr()})
		}
	}
	strSetting("primary_hostname", &lib.primaryHostname, false)
	strSetting("shared_ip_interface", &lib.sharedIPInterface, false)
	strSetting("sync_file", &lib.syncFile, true)
	strSetting("log_file", &lib.logFile, true)
	strSetting("takeover_after", &lib.takeoverAfter, false)
	strSetting("backup_lost_after", &lib.backupLostAfter, false)
	strSetting("heartbeat", &lib.heartbeat, false)
	strSetting("delivery_alert_after", &lib.deliveryAlertAfter, false)
	strSetting("settings_unsynced_after", &lib.settingsUnsyncedAfter, false)

	for _, s := range []struct{ name, value string }{
		{"takeover_after", lib.takeoverAfter},
		{"backup_lost_after", lib.backupLostAfter},
		{"delivery_alert_after", lib.deliveryAlertAfter},
		{"settings_unsynced_after", lib.settingsUnsyncedAfter},
	} {
		if attr, ok := a[s.name]; ok && s.value != "" {
			if d, err := rules.ParseDuration(s.value); err != nil || d <= 0 {
				diags = append(diags, hcldecode.AttrError(attr, "Invalid duration",
					fmt.Sprintf("%q is not a positive duration; write it like \"5m\" or \"1h\".", s.value)))
			}
		}
	}
	if attr, ok := a["delivery_alert_contact"]; ok {
		list, d := contactRefs(attr, env)
		diags = append(diags, d...)
		lib.deliveryAlert = list
	}
	if attr, ok := a["evaluate_every"]; ok {
		var every string
		strSetting("evaluate_every", &every, false)
		if every != "" {
			d, err := rules.ParseDuration(every)
			if err != nil || d < time.Second {
				diags = append(diags, hcldecode.AttrError(attr, "Invalid duration",
					fmt.Sprintf("%q is not a duration of at least 1s; write it like \"30s\" or \"1m\".", every)))
			} else {
				lib.evaluateEvery = d
			}
		}
	}
	if attr, ok := a["heartbeat"]; ok && lib.heartbeat != "" {
		if err := rules.ValidateSchedule(lib.heartbeat); err != nil {
			diags = append(diags, hcldecode.AttrError(attr, "Invalid schedule",
				fmt.Sprintf("%s. The heartbeat is a cron spec such as %q (every day at 08:00).", strings.TrimSuffix(err.Error(), "."), DefaultHeartbeat)))
		}
	}
	if attr, ok := a["peer_url"]; ok && lib.peerURL != "" {
		if err := (facts.Spec{Name: PartnerPeer, Peer: &facts.PeerSpec{URL: lib.peerURL}}).Validate(); err != nil {
			diags = append(diags, hcldecode.AttrError(attr, "Invalid peer_url",
				fmt.Sprintf("peer_url is the base URL of the partner's agent, such as \"http://192.0.2.1:9870\": %s.", fieldProblem(err))))
		}
	}
	if attr, ok := a["primary_hostname"]; ok && lib.primaryHostname != "" && strings.ContainsAny(lib.primaryHostname, "/ ") {
		diags = append(diags, hcldecode.AttrError(attr, "Invalid primary_hostname",
			fmt.Sprintf("primary_hostname is a host name such as \"primary.example.com\" (optionally with :port), not %q.", lib.primaryHostname)))
	}
	if attr, ok := a["shared_ips"]; ok {
		list, d := stringElems(attr, ctx)
		diags = append(diags, d...)
		for _, ip := range list {
			if _, err := netip.ParseAddr(ip.Value); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid shared IP",
					Detail: fmt.Sprintf("%q is not an IP address; shared_ips lists the addresses that move with the primary role.", ip.Value), Subject: ip.Range.Ptr()})
			}
		}
		lib.sharedIPs = list
	}
	if attr, ok := a["test_ips"]; ok {
		list, d := stringElems(attr, ctx)
		diags = append(diags, d...)
		for _, ip := range list {
			if strings.TrimSpace(ip.Value) == "" || strings.ContainsAny(ip.Value, "/ ") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid test IP",
					Detail: fmt.Sprintf("%q is not an IP address or host name to ping.", ip.Value), Subject: ip.Range.Ptr()})
			}
		}
		lib.testIPs = list
	}
	if attr, ok := a["self_check"]; ok {
		list, d := stringElems(attr, ctx)
		diags = append(diags, d...)
		if !d.HasErrors() && (len(list) == 0 || list[0].Value == "") {
			diags = append(diags, hcldecode.AttrError(attr, "Invalid self_check",
				"self_check is a command that checks this node, such as [\"/usr/bin/product\", \"selftest\"]; it needs at least the program."))
		}
		for _, s := range list {
			lib.selfCheck = append(lib.selfCheck, s.Value)
		}
	}
	if attr, ok := a["disable"]; ok {
		list, d := stringElems(attr, ctx)
		diags = append(diags, d...)
		known := RuleNames()
		for _, n := range list {
			if !slices.Contains(known, n.Value) {
				detail := fmt.Sprintf("The failover library has no rule %q.", n.Value)
				if s := hcldecode.Suggestion(n.Value, known); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				detail += " Its rules are: " + strings.Join(known, ", ") + "."
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown library rule", Detail: detail, Subject: n.Range.Ptr()})
			}
		}
		lib.disable = list
	}
	lib.failed = diags.HasErrors()
	return lib, diags
}

// contactRefs decodes a setting that names contacts: one reference
// (contact.NAME or "NAME") or a list of them. Whether they are declared
// is checked with the rules' notify lists, once every file is loaded.
func contactRefs(attr *hcl.Attribute, env Env) ([]hcldecode.Ranged, hcl.Diagnostics) {
	elems := []hcl.Expression{attr.Expr}
	if list, d := hcl.ExprList(attr.Expr); !d.HasErrors() {
		elems = list
	}
	bad := hcldecode.AttrError(attr, "Invalid "+attr.Name,
		attr.Name+" names the contact to tell when a transport keeps failing, such as contact.ops_fallback, or a list of contacts.")
	if len(elems) == 0 {
		return nil, hcl.Diagnostics{bad}
	}
	var out []hcldecode.Ranged
	var diags hcl.Diagnostics
	for _, el := range elems {
		name, d := env.ContactRef(el, attr.Name)
		diags = append(diags, d...)
		if !d.HasErrors() {
			out = append(out, hcldecode.Ranged{Value: name, Range: el.Range()})
		}
	}
	return out, diags
}

// factSetting decodes a setting that becomes a fact: an expression that
// reads no variables is evaluated now (so that env() and file() work) and
// checked; one that reads facts (roots lists the variables it may read)
// is kept, to be evaluated at every evaluation like the node block's.
func factSetting(attr *hcl.Attribute, ctx *hcl.EvalContext, ty cty.Type, roots []string, check func(cty.Value) string) (hcl.Expression, hcl.Diagnostics) {
	vars := attr.Expr.Variables()
	if len(vars) > 0 {
		var diags hcl.Diagnostics
		for _, tr := range vars {
			if !slices.Contains(roots, tr.RootName()) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference",
					Detail: fmt.Sprintf("%s may read %s, not %s.", attr.Name,
						strings.Join(prefixAll(roots, ".NAME"), " and "), tr.RootName()),
					Subject: tr.SourceRange().Ptr(),
				})
			}
		}
		return attr.Expr, diags
	}
	v, diags := hcldecode.Value(attr, ctx, ty)
	if diags.HasErrors() {
		return nil, diags
	}
	if v.IsNull() {
		return nil, append(diags, hcldecode.AttrError(attr, "Missing value", fmt.Sprintf("%s must not be null.", attr.Name)))
	}
	if check != nil {
		if msg := check(v); msg != "" {
			return nil, append(diags, hcldecode.AttrError(attr, "Invalid "+attr.Name, msg))
		}
	}
	return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: attr.Expr.Range()}, diags
}

// stringElems evaluates a list of strings, trimmed, each with the range
// of its element when the list is written out.
func stringElems(attr *hcl.Attribute, ctx *hcl.EvalContext) ([]hcldecode.Ranged, hcl.Diagnostics) {
	list, diags := hcldecode.Strings(attr, ctx)
	for i := range list {
		list[i].Value = strings.TrimSpace(list[i].Value)
	}
	return list, diags
}

func prefixAll(list []string, suffix string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s + suffix
	}
	return out
}
