package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
	library "github.com/tocsin-dev/tocsin/rules"
)

// Libraries lists the names a library block may have.
var Libraries = []string{"failover"}

// Defaults of the failover library's settings.
const (
	DefaultHeartbeat          = "0 8 * * *"
	DefaultTakeoverAfter      = "5m"
	DefaultBackupLostAfter    = "10m"
	DefaultDeliveryAlertAfter = "15m"
)

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
	libraryVariable      = "library"
	failoverLibraryName  = "failover"
)

// failoverRuleNeeds maps each rule of the failover library to the setting
// it needs besides role, peer_url and notify; a rule whose setting is not
// given is left out. Every rule file of the library must be listed here
// (a test checks it).
var failoverRuleNeeds = map[string]string{
	"version_mismatch":             "version",
	"version_unknown":              "version",
	"shared_ip_nic_down":           "shared_ips",
	"shared_ip_not_assigned":       "shared_ips",
	"backup_isolated":              "test_ips",
	"backup_no_test_ips":           "test_ips",
	"backup_ops_disabled":          "",
	"backup_lost":                  "",
	"rules_failing":                "",
	"backup_self_check_failed":     "",
	"primary_hostname_unreachable": "primary_hostname",
	"primary_unchecked_manual":     "",
	"primary_unchecked_auto":       "",
	"takeover":                     "static role",
	"role_became_primary":          "observed role",
	"role_became_backup":           "observed role",
	"sync_stale":                   "sync_file",
	"sync_unreadable":              "sync_file",
	"daily_heartbeat":              "",
	"startup":                      "",
	"shutdown":                     "",
	"delivery_failing":             "delivery_alert_contact",
	"outbox_store_failing":         "delivery_alert_contact",
}

// failoverRuleNotify maps the rules of the failover library that do not
// notify the library's notify contacts to the setting that names theirs.
var failoverRuleNotify = map[string]string{
	"delivery_failing":     "delivery_alert_contact",
	"outbox_store_failing": "delivery_alert_contact",
}

var librarySchema = &hcl.BodySchema{
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
	},
}

// libraryBlock is a decoded library "failover" block, expanded once every
// file is loaded.
type libraryBlock struct {
	defRange hcl.Range // `library "failover"`
	dir      string    // absolute directory of its file
	shownDir string    // the same, as the operator reaches it
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
	sharedIPs          []rangedString
	sharedIPInterface  string
	testIPs            []rangedString
	syncFile           string
	takeoverAfter      string
	backupLostAfter    string
	deliveryAlertAfter string
	// deliveryAlert names the contacts delivery_failing notifies.
	deliveryAlert []rangedString
	evaluateEvery time.Duration // 0: the rules' own schedules
	logFile       string
	heartbeat     string
	selfCheck     []string
	disable       []rangedString
}

// rangedString is a string setting with the range it was written at.
type rangedString struct {
	s   string
	rng hcl.Range
}

// decodeLibrary decodes a library block. What it declares is added once
// every file is loaded (expandLibrary), so that it sees the merged agent
// and node settings.
func (f *fileDecoder) decodeLibrary(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	if name != failoverLibraryName {
		detail := fmt.Sprintf("There is no library %q; the libraries are: %s.", name, strings.Join(Libraries, ", "))
		if s := nameSuggestion(name, Libraries); s != "" {
			detail = fmt.Sprintf("There is no library %q. Did you mean %q?", name, s)
		}
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown library", Detail: detail, Subject: labelRange.Ptr()}}
	}
	if prev := f.l.library; prev != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate library",
			Detail:   fmt.Sprintf("The library %q is already used at %s; use it once, with all its settings in one block.", name, where(prev.defRange)),
			Subject:  labelRange.Ptr(),
			Context:  block.DefRange.Ptr(),
		}}
	}
	lib := &libraryBlock{defRange: block.DefRange, dir: f.dir, takeoverAfter: DefaultTakeoverAfter, backupLostAfter: DefaultBackupLostAfter, heartbeat: DefaultHeartbeat,
		deliveryAlertAfter: DefaultDeliveryAlertAfter}
	lib.shownDir = filepath.Dir(block.DefRange.Filename)
	f.l.library = lib
	content, diags := block.Body.Content(librarySchema)
	lib.attrs = content.Attributes
	a := content.Attributes

	if attr, ok := a["role"]; ok {
		expr, d := f.factSetting(attr, cty.String, []string{"check", "peer"}, func(v cty.Value) string {
			if s := v.AsString(); s != "primary" && s != "backup" {
				return fmt.Sprintf("role is \"primary\" or \"backup\" (the role this node has in the pair), not %q.", s)
			}
			return ""
		})
		diags = append(diags, d...)
		lib.role = expr
	}
	if attr, ok := a["version"]; ok {
		expr, d := f.factSetting(attr, cty.String, []string{"check", "peer"}, nil)
		diags = append(diags, d...)
		lib.version = expr
	}
	if attr, ok := a["auto_failover"]; ok {
		expr, d := f.factSetting(attr, cty.Bool, []string{"check", "peer"}, nil)
		diags = append(diags, d...)
		lib.autoFailover = expr
	}
	if attr, ok := a["backup_ops"]; ok {
		expr, d := f.factSetting(attr, cty.Bool, []string{"check", "peer", "node"}, nil)
		diags = append(diags, d...)
		lib.backupOps = expr
	}
	strSetting := func(name string, dst *string, isPath bool) {
		attr, ok := a[name]
		if !ok {
			return
		}
		v, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return
		}
		v = strings.TrimSpace(v)
		if isPath {
			v = f.path(v)
		}
		*dst = v
	}
	strSetting("peer_url", &lib.peerURL, false)
	strSetting("peer_ca_file", &lib.peer.CAFile, true)
	peerAttrs := hcl.Attributes{}
	for setting, arg := range map[string]string{"peer_fingerprint": "fingerprint", "peer_token_file": "token_file", "peer_insecure": "insecure"} {
		if attr, ok := a[setting]; ok {
			peerAttrs[arg] = attr
		}
	}
	diags = append(diags, f.peerSecurity(&lib.peer, peerAttrs)...)
	strSetting("primary_hostname", &lib.primaryHostname, false)
	strSetting("shared_ip_interface", &lib.sharedIPInterface, false)
	strSetting("sync_file", &lib.syncFile, true)
	strSetting("log_file", &lib.logFile, true)
	strSetting("takeover_after", &lib.takeoverAfter, false)
	strSetting("backup_lost_after", &lib.backupLostAfter, false)
	strSetting("heartbeat", &lib.heartbeat, false)
	strSetting("delivery_alert_after", &lib.deliveryAlertAfter, false)

	for _, s := range []struct{ name, value string }{
		{"takeover_after", lib.takeoverAfter},
		{"backup_lost_after", lib.backupLostAfter},
		{"delivery_alert_after", lib.deliveryAlertAfter},
	} {
		if attr, ok := a[s.name]; ok && s.value != "" {
			if d, err := rules.ParseDuration(s.value); err != nil || d <= 0 {
				diags = append(diags, attrError(attr, "Invalid duration",
					fmt.Sprintf("%q is not a positive duration; write it like \"5m\" or \"1h\".", s.value)))
			}
		}
	}
	if attr, ok := a["delivery_alert_contact"]; ok {
		list, d := f.contactRefs(attr)
		diags = append(diags, d...)
		lib.deliveryAlert = list
	}
	if attr, ok := a["evaluate_every"]; ok {
		var every string
		strSetting("evaluate_every", &every, false)
		if every != "" {
			d, err := rules.ParseDuration(every)
			if err != nil || d < time.Second {
				diags = append(diags, attrError(attr, "Invalid duration",
					fmt.Sprintf("%q is not a duration of at least 1s; write it like \"30s\" or \"1m\".", every)))
			} else {
				lib.evaluateEvery = d
			}
		}
	}
	if attr, ok := a["heartbeat"]; ok && lib.heartbeat != "" {
		if err := rules.ValidateSchedule(lib.heartbeat); err != nil {
			diags = append(diags, attrError(attr, "Invalid schedule",
				fmt.Sprintf("%s. The heartbeat is a cron spec such as %q (every day at 08:00).", strings.TrimSuffix(err.Error(), "."), DefaultHeartbeat)))
		}
	}
	if attr, ok := a["peer_url"]; ok && lib.peerURL != "" {
		if err := (facts.Spec{Name: PartnerPeer, Peer: &facts.PeerSpec{URL: lib.peerURL}}).Validate(); err != nil {
			diags = append(diags, attrError(attr, "Invalid peer_url",
				fmt.Sprintf("peer_url is the base URL of the partner's agent, such as \"http://192.0.2.1:9870\": %s.", fieldProblem(err))))
		}
	}
	if attr, ok := a["primary_hostname"]; ok && lib.primaryHostname != "" && strings.ContainsAny(lib.primaryHostname, "/ ") {
		diags = append(diags, attrError(attr, "Invalid primary_hostname",
			fmt.Sprintf("primary_hostname is a host name such as \"primary.example.com\" (optionally with :port), not %q.", lib.primaryHostname)))
	}
	if attr, ok := a["shared_ips"]; ok {
		list, d := f.stringElems(attr)
		diags = append(diags, d...)
		for _, ip := range list {
			if _, err := netip.ParseAddr(ip.s); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid shared IP",
					Detail: fmt.Sprintf("%q is not an IP address; shared_ips lists the addresses that move with the primary role.", ip.s), Subject: ip.rng.Ptr()})
			}
		}
		lib.sharedIPs = list
	}
	if attr, ok := a["test_ips"]; ok {
		list, d := f.stringElems(attr)
		diags = append(diags, d...)
		for _, ip := range list {
			if strings.TrimSpace(ip.s) == "" || strings.ContainsAny(ip.s, "/ ") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid test IP",
					Detail: fmt.Sprintf("%q is not an IP address or host name to ping.", ip.s), Subject: ip.rng.Ptr()})
			}
		}
		lib.testIPs = list
	}
	if attr, ok := a["self_check"]; ok {
		list, d := f.stringElems(attr)
		diags = append(diags, d...)
		if !d.HasErrors() && (len(list) == 0 || list[0].s == "") {
			diags = append(diags, attrError(attr, "Invalid self_check",
				"self_check is a command that checks this node, such as [\"/usr/bin/product\", \"selftest\"]; it needs at least the program."))
		}
		for _, s := range list {
			lib.selfCheck = append(lib.selfCheck, s.s)
		}
	}
	if attr, ok := a["disable"]; ok {
		list, d := f.stringElems(attr)
		diags = append(diags, d...)
		known := sortedRuleNames()
		for _, n := range list {
			if _, ok := failoverRuleNeeds[n.s]; !ok {
				detail := fmt.Sprintf("The failover library has no rule %q.", n.s)
				if s := nameSuggestion(n.s, known); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				detail += " Its rules are: " + strings.Join(known, ", ") + "."
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown library rule", Detail: detail, Subject: n.rng.Ptr()})
			}
		}
		lib.disable = list
	}
	lib.failed = diags.HasErrors()
	return diags
}

// contactRefs decodes a setting that names contacts: one reference
// (contact.NAME or "NAME") or a list of them. Whether they are declared
// is checked with the rules' notify lists, once every file is loaded.
func (f *fileDecoder) contactRefs(attr *hcl.Attribute) ([]rangedString, hcl.Diagnostics) {
	elems := []hcl.Expression{attr.Expr}
	if list, d := hcl.ExprList(attr.Expr); !d.HasErrors() {
		elems = list
	}
	bad := attrError(attr, "Invalid "+attr.Name,
		attr.Name+" names the contact to tell when a transport keeps failing, such as contact.ops_fallback, or a list of contacts.")
	if len(elems) == 0 {
		return nil, hcl.Diagnostics{bad}
	}
	var out []rangedString
	var diags hcl.Diagnostics
	for _, el := range elems {
		name, d := refName(el, f.ctx, attr.Name, "contact")
		diags = append(diags, d...)
		if !d.HasErrors() {
			out = append(out, rangedString{s: name, rng: el.Range()})
		}
	}
	return out, diags
}

// factSetting decodes a setting that becomes a fact: an expression that
// reads no variables is evaluated now (so that env() and file() work) and
// checked; one that reads facts (roots lists the variables it may read)
// is kept, to be evaluated at every evaluation like the node block's.
func (f *fileDecoder) factSetting(attr *hcl.Attribute, ty cty.Type, roots []string, check func(cty.Value) string) (hcl.Expression, hcl.Diagnostics) {
	vars := attr.Expr.Variables()
	if len(vars) > 0 {
		var diags hcl.Diagnostics
		for _, tr := range vars {
			if !contains(roots, tr.RootName()) {
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
	v, diags := attrValue(attr, f.ctx, ty)
	if diags.HasErrors() {
		return nil, diags
	}
	if v.IsNull() {
		return nil, append(diags, attrError(attr, "Missing value", fmt.Sprintf("%s must not be null.", attr.Name)))
	}
	if check != nil {
		if msg := check(v); msg != "" {
			return nil, append(diags, attrError(attr, "Invalid "+attr.Name, msg))
		}
	}
	return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: attr.Expr.Range()}, diags
}

// stringElems evaluates a list of strings, trimmed, each with the range
// of its element when the list is written out.
func (f *fileDecoder) stringElems(attr *hcl.Attribute) ([]rangedString, hcl.Diagnostics) {
	list, diags := hcldecode.Strings(attr, f.ctx)
	out := make([]rangedString, len(list))
	for i, e := range list {
		out[i] = rangedString{s: strings.TrimSpace(e.Value), rng: e.Range}
	}
	return out, diags
}

// expandLibrary adds what the library block declares: node facts, the
// peer, the checks and the rules of the library. It runs once every file
// is loaded and before the references to contacts are checked.
func (l *loader) expandLibrary() hcl.Diagnostics {
	lib := l.library
	if lib == nil || lib.failed {
		return nil
	}
	// A check or node fact that cannot be declared would make every rule
	// that reads it an error too: report the cause alone.
	diags := l.libraryChecks(lib)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, l.libraryNode(lib)...)
	if diags.HasErrors() {
		return diags
	}
	return append(diags, l.libraryRules(lib)...)
}

// libraryNode sets the node facts the library's rules read. A setting
// given in the library block and in a node block is an error; a default
// (auto_failover, the lists, name) gives way to the node block.
func (l *loader) libraryNode(lib *libraryBlock) hcl.Diagnostics {
	n := &l.cfg.Node
	if n.Fields == nil {
		n.Fields = map[string]hcl.Expression{}
		n.DeclRange = lib.defRange
	}
	var diags hcl.Diagnostics
	set := func(field, setting string, expr hcl.Expression) {
		attr, explicit := lib.attrs[setting]
		if prev, isSet := l.nodeSet[field]; isSet {
			if explicit {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate node argument",
					Detail: fmt.Sprintf("The library sets node.%s from %s, and a node block sets it at %s. Set it in one place.",
						field, setting, where(prev)),
					Subject: attr.NameRange.Ptr(),
				})
			}
			return
		}
		rng := lib.defRange
		if explicit {
			rng = attr.NameRange
		}
		l.nodeSet[field] = rng
		n.Fields[field] = expr
	}
	lit := func(v cty.Value) hcl.Expression {
		return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: lib.defRange}
	}
	node := l.cfg.Agent.Node
	if _, set := l.agentSet["node"]; !set {
		node = DefaultConfig().Agent.Node
	}
	set("name", "", lit(cty.StringVal(node)))
	set("role", "role", lib.role)
	version := lib.version
	if version == nil {
		version = lit(cty.NullVal(cty.String))
	}
	set("version", "version", version)
	auto := lib.autoFailover
	if auto == nil {
		auto = lit(cty.False)
	}
	set("auto_failover", "auto_failover", auto)
	set("shared_ips", "shared_ips", lit(stringListVal(lib.sharedIPs)))
	set("test_ips", "test_ips", lit(stringListVal(lib.testIPs)))
	lastSync := lit(cty.NullVal(cty.String))
	if lib.syncFile != "" {
		rng := lib.attrs["sync_file"].Expr.Range()
		lastSync = &hclsyntax.ScopeTraversalExpr{
			Traversal: hcl.Traversal{
				hcl.TraverseRoot{Name: "check", SrcRange: rng},
				hcl.TraverseAttr{Name: SyncCheck, SrcRange: rng},
				hcl.TraverseAttr{Name: "mtime", SrcRange: rng},
			},
			SrcRange: rng,
		}
	}
	set("last_sync", "sync_file", lastSync)
	return diags
}

// libraryChecks declares the peer and the checks of the library.
func (l *loader) libraryChecks(lib *libraryBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	add := func(spec facts.Spec, setting string, rng hcl.Range) {
		isPeer := spec.Kind == facts.KindPeer
		kind, seen, list := "check", l.checks, &l.cfg.Checks
		if isPeer {
			kind, seen, list = "peer", l.peers, &l.cfg.Peers
		}
		if prev, dup := seen[spec.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + kind,
				Detail: fmt.Sprintf("The failover library declares %s %q for %s, and a %s of that name is already declared at %s. Rename yours.",
					kind, spec.Name, setting, kind, where(prev)),
				Subject: rng.Ptr(),
			})
			return
		}
		if lib.evaluateEvery > 0 && lib.evaluateEvery < facts.DefaultEvery {
			spec.Every = lib.evaluateEvery // facts as fresh as the evaluations
		}
		if err := spec.Validate(); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid " + setting,
				Detail:   fmt.Sprintf("The %s %q that %s declares is not valid: %s.", kind, spec.Name, setting, fieldProblem(err)),
				Subject:  rng.Ptr(),
			})
			return
		}
		seen[spec.Name] = rng
		*list = append(*list, &Check{Name: spec.Name, Spec: spec, DeclRange: rng})
	}
	exprRange := func(setting string) hcl.Range { return lib.attrs[setting].Expr.Range() }

	partner := lib.peer
	partner.URL = lib.peerURL
	add(facts.Spec{Name: PartnerPeer, Kind: facts.KindPeer, Peer: &partner}, "peer_url", exprRange("peer_url"))
	if len(lib.selfCheck) > 0 {
		add(facts.Spec{Name: SelfCheck, Kind: facts.KindCommand, Command: &facts.CommandSpec{Argv: lib.selfCheck}}, "self_check", exprRange("self_check"))
	} else {
		// The agent's own listener on this host: with TLS, its identity
		// is not verified (the check asks only whether it answers).
		tlsOn := l.cfg.Agent.ServesTLS() // an empty listen is DefaultListen
		add(facts.Spec{Name: SelfCheck, Kind: facts.KindHTTP, HTTP: &facts.HTTPSpec{URL: selfURL(l.cfg.Agent.Listen, tlsOn), TLSSkipVerify: tlsOn}}, "the library", lib.defRange)
	}
	if lib.primaryHostname != "" {
		add(facts.Spec{Name: PrimaryHostnameCheck, Kind: facts.KindTCP, TCP: &facts.TCPSpec{Address: hostPort(lib.primaryHostname, lib.peerURL)}},
			"primary_hostname", exprRange("primary_hostname"))
	}
	for i, ip := range lib.sharedIPs {
		add(facts.Spec{Name: fmt.Sprintf("%s%d", sharedIPCheckPrefix, i), Kind: facts.KindInterface,
			Interface: &facts.InterfaceSpec{Address: ip.s, Name: lib.sharedIPInterface}}, "shared_ips", ip.rng)
	}
	for i, ip := range lib.testIPs {
		add(facts.Spec{Name: fmt.Sprintf("%s%d", testIPCheckPrefix, i), Kind: facts.KindPing,
			Ping: &facts.PingSpec{Address: ip.s}}, "test_ips", ip.rng)
	}
	if lib.syncFile != "" {
		add(facts.Spec{Name: SyncCheck, Kind: facts.KindFile, File: &facts.FileSpec{Path: lib.syncFile, MaxBytes: 4096}}, "sync_file", exprRange("sync_file"))
	}
	return diags
}

// libraryRules decodes the library's rule files with the real rule
// decoder, so that their diagnostics point at rules/FILE:LINE:COL, and
// adds the rules whose settings are given and that are not disabled.
// Each rule notifies the library's contacts; its expressions see the
// variable library (see libraryExpr).
func (l *loader) libraryRules(lib *libraryBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	notify, ok := lib.attrs["notify"].Expr.(hclsyntax.Expression)
	if !ok {
		return nil
	}
	disabled := map[string]bool{}
	for _, d := range lib.disable {
		disabled[d.s] = true
	}
	alerts := false // delivery_failing is added
	static := lib.staticValue()
	ctx := evalContext(lib.dir, lib.shownDir, l.lookupEnv, l.cfg.noteFileRead)
	ctx.Variables = map[string]cty.Value{libraryVariable: static}
	dec := &fileDecoder{l: l, dir: lib.dir, ctx: ctx}
	parser := hclparse.NewParser()
	// Every rule notifies through the same notify elements: a contact
	// that is not declared is reported once, not once per rule.
	firstRef := len(l.notifies)
	defer func() {
		seen := map[hcl.Pos]bool{}
		refs := l.notifies[:firstRef]
		for _, ref := range l.notifies[firstRef:] {
			if !seen[ref.rng.Start] {
				seen[ref.rng.Start] = true
				refs = append(refs, ref)
			}
		}
		l.notifies = refs
	}()
	for _, file := range library.Files() {
		name := library.Dir + "/" + file.Name
		l.cfg.Sources[name] = file.Src
		if _, seen := l.fileOrder[name]; !seen {
			l.fileOrder[name] = len(l.fileOrder)
		}
		if d := CheckSource(name, file.Src); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		hf, d := parser.ParseHCL(file.Src, name)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		body, ok := hf.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for _, attr := range body.Attributes {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected argument in the library",
				Detail: "A library file holds rule blocks only.", Subject: attr.NameRange.Ptr()})
		}
		for _, block := range body.Blocks {
			if block.Type != "rule" || len(block.Labels) != 1 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected block in the library",
					Detail: "A library file holds rule blocks only.", Subject: block.TypeRange.Ptr()})
				continue
			}
			rule := block.Labels[0]
			need, known := failoverRuleNeeds[rule]
			if !known {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unlisted library rule",
					Detail:  fmt.Sprintf("The library rule %q is not listed in the config package's failoverRuleNeeds; this is a defect of Tocsin.", rule),
					Subject: block.LabelRanges[0].Ptr()})
				continue
			}
			if disabled[rule] {
				continue
			}
			if need != "" && !lib.given(need) {
				continue
			}
			if prev, dup := l.rules[rule]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate rule",
					Detail: fmt.Sprintf("The failover library declares rule %q, and a rule of that name is already declared at %s. Rename yours, or leave the library's out with disable = [%q].",
						rule, where(prev), rule),
					Subject: lib.defRange.Ptr(),
				})
				continue
			}
			if _, set := block.Body.Attributes["notify"]; !set {
				block.Body.Attributes["notify"] = lib.notifyAttr(rule, notify)
			}
			before := len(l.cfg.Rules)
			diags = append(diags, dec.decodeRule(block.AsHCLBlock())...)
			if len(l.cfg.Rules) > before {
				r := l.cfg.Rules[len(l.cfg.Rules)-1]
				if r.Schedule == DefaultSchedule && lib.evaluateEvery > 0 {
					r.Schedule = "@every " + lib.evaluateEvery.String()
				}
				wrapLibraryRule(r, static, lib.backupOps)
				alerts = alerts || r.Name == "delivery_failing"
			}
		}
	}
	if alerts {
		diags = append(diags, l.deliveryAlertWarnings(lib)...)
	}
	return diags
}

// notifyAttr is the notify argument of the library's rule: the setting
// failoverRuleNotify names for it, or the library's notify, whose
// expression is given.
func (lib *libraryBlock) notifyAttr(rule string, notify hclsyntax.Expression) *hclsyntax.Attribute {
	attr := lib.attrs["notify"]
	if setting := failoverRuleNotify[rule]; setting != "" && lib.attrs[setting] != nil {
		expr, ok := lib.attrs[setting].Expr.(hclsyntax.Expression)
		if ok {
			attr = lib.attrs[setting]
			if _, isList := expr.(*hclsyntax.TupleConsExpr); !isList {
				expr = &hclsyntax.TupleConsExpr{Exprs: []hclsyntax.Expression{expr}, SrcRange: expr.Range(), OpenRange: expr.Range()}
			}
			notify = expr
		}
	}
	return &hclsyntax.Attribute{Name: "notify", Expr: notify, SrcRange: attr.Range, NameRange: attr.NameRange}
}

// deliveryAlertWarnings warns when a contact of delivery_alert_contact
// sends through the transport that the library's notify contacts try
// first: the alert that this transport keeps failing would wait behind
// it.
func (l *loader) deliveryAlertWarnings(lib *libraryBlock) hcl.Diagnostics {
	first := map[string]bool{}
	elems, _ := hcl.ExprList(lib.attrs["notify"].Expr)
	for _, el := range elems {
		name, d := refName(el, nil, "notify", "contact")
		if c := l.contacts[name]; !d.HasErrors() && c != nil && len(c.Via) > 0 {
			first[c.Via[0]] = true
		}
	}
	var diags hcl.Diagnostics
	for _, ref := range lib.deliveryAlert {
		c := l.contacts[ref.s]
		if c == nil || len(c.Via) == 0 || !first[c.Via[0]] {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Delivery alert through the transport it watches",
			Detail: fmt.Sprintf("Contact %q sends through transport %q first, as the library's notify contacts do: when %s keeps failing, the alert that says so waits behind it. Name a contact whose via starts with another transport.",
				ref.s, c.Via[0], c.Via[0]),
			Subject: ref.rng.Ptr(),
		})
	}
	return diags
}

// staticValue is the library variable as known when the configuration
// is loaded; backup_ops is unknown until an evaluation.
func (lib *libraryBlock) staticValue() cty.Value {
	str := func(s string) cty.Value {
		if s == "" {
			return cty.NullVal(cty.String)
		}
		return cty.StringVal(s)
	}
	checkNames := func(prefix string, n int) cty.Value {
		var names []rangedString
		for i := 0; i < n; i++ {
			names = append(names, rangedString{s: fmt.Sprintf("%s%d", prefix, i)})
		}
		return stringListVal(names)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"peer_url":             str(lib.peerURL),
		"primary_hostname":     str(lib.primaryHostname),
		"shared_ips":           stringListVal(lib.sharedIPs),
		"shared_ip_interface":  str(lib.sharedIPInterface),
		"shared_ip_checks":     checkNames(sharedIPCheckPrefix, len(lib.sharedIPs)),
		"test_ips":             stringListVal(lib.testIPs),
		"test_ip_checks":       checkNames(testIPCheckPrefix, len(lib.testIPs)),
		"version_checks":       readChecks(lib.version),
		"sync_file":            str(lib.syncFile),
		"takeover_after":       str(lib.takeoverAfter),
		"backup_lost_after":    str(lib.backupLostAfter),
		"delivery_alert_after": str(lib.deliveryAlertAfter),
		"heartbeat":            str(lib.heartbeat),
		"heartbeat_every":      str(DescribeSchedule(lib.heartbeat)),
		"log_file":             str(lib.logFile),
		"backup_ops":           cty.UnknownVal(cty.Bool),
	})
}

// readChecks lists the checks expr reads (check.NAME...), sorted, so
// that a rule can say why a setting read from them is unknown: an empty
// list when expr is nil or reads none.
func readChecks(expr hcl.Expression) cty.Value {
	if expr == nil {
		return cty.ListValEmpty(cty.String)
	}
	seen := map[string]bool{}
	var names []rangedString
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
			names = append(names, rangedString{s: name})
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].s < names[j].s })
	return stringListVal(names)
}

// wrapLibraryRule makes the library variable visible to the rule's
// expressions, and leaves out the attachments that the settings make null
// (a log_file that is not set).
func wrapLibraryRule(r *rules.Rule, static cty.Value, backupOps hcl.Expression) {
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

// given reports whether the library block gives setting: an empty list
// of shared or test IPs is the same as none, so that test_ips = [] does
// not leave the backup "isolated" for want of a test IP that answers.
// The needs "static role" and "observed role" say whether role is fixed
// or read from the facts, which the agent then sees change.
func (lib *libraryBlock) given(setting string) bool {
	switch setting {
	case "static role", "observed role":
		// role reads facts: the agent sees it change.
		observed := lib.role != nil && len(lib.role.Variables()) > 0
		return observed == (setting == "observed role")
	}
	if _, ok := lib.attrs[setting]; !ok {
		return false
	}
	switch setting {
	case "shared_ips":
		return len(lib.sharedIPs) > 0
	case "test_ips":
		return len(lib.testIPs) > 0
	}
	return true
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

// selfURL is the agent's own health endpoint, reached on loopback when
// it listens on every address.
func selfURL(listen string, tlsOn bool) string {
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "127.0.0.1", "9870"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http://"
	if tlsOn {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/healthz"
}

// hostPort returns host with the port of peerURL (80 or 443 by its
// scheme when it has none), unless host has a port of its own.
func hostPort(host, peerURL string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if u, err := url.Parse(peerURL); err == nil {
		switch {
		case u.Port() != "":
			port = u.Port()
		case u.Scheme == "https":
			port = "443"
		}
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// fieldProblem returns the problems of a facts.Spec error without the
// check's name, which the message names itself.
func fieldProblem(err error) string {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var parts []string
	for _, e := range list {
		var fe *facts.FieldError
		if errors.As(e, &fe) {
			parts = append(parts, fe.Problem)
			continue
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// stringListVal returns the strings as a list; empty, not null, when
// there are none.
func stringListVal(list []rangedString) cty.Value {
	if len(list) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(list))
	for i, s := range list {
		vals[i] = cty.StringVal(s.s)
	}
	return cty.ListVal(vals)
}

// sortedRuleNames lists the rules of the failover library.
func sortedRuleNames() []string {
	names := make([]string, 0, len(failoverRuleNeeds))
	for n := range failoverRuleNeeds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func prefixAll(list []string, suffix string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s + suffix
	}
	return out
}

// DescribeSchedule says in words how often a schedule spec comes, for a
// notice's text: "every day at 08:00", "every minute", "every Monday at
// 07:30 (Europe/Paris)". A spec it cannot put in words is quoted: "on the
// schedule \"0 */4 1-7 * *\"".
func DescribeSchedule(spec string) string {
	fallback := fmt.Sprintf("on the schedule %q", spec)
	fields := strings.Fields(spec)
	zone := ""
	if len(fields) > 0 {
		for _, p := range []string{"CRON_TZ=", "TZ="} {
			if z, ok := strings.CutPrefix(fields[0], p); ok {
				zone, fields = " ("+z+")", fields[1:]
				break
			}
		}
	}
	if len(fields) == 0 {
		return fallback
	}
	switch fields[0] {
	case "@yearly", "@annually":
		return "every year on 1 January at 00:00" + zone
	case "@monthly":
		return "every month on the 1st at 00:00" + zone
	case "@weekly":
		return "every Sunday at 00:00" + zone
	case "@daily", "@midnight":
		return "every day at 00:00" + zone
	case "@hourly":
		return "every hour"
	case "@every":
		if len(fields) != 2 {
			return fallback
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil || d <= 0 {
			return fallback
		}
		return "every " + describeInterval(d)
	}
	if len(fields) == 6 { // a leading seconds field
		if fields[0] != "0" {
			return fallback
		}
		fields = fields[1:]
	}
	if len(fields) != 5 || fields[2] != "*" || fields[3] != "*" {
		return fallback
	}
	minute, err1 := strconv.Atoi(fields[0])
	if err1 != nil || minute < 0 || minute > 59 {
		return fallback
	}
	if fields[1] == "*" && fields[4] == "*" {
		return "every hour"
	}
	hour, err2 := strconv.Atoi(fields[1])
	if err2 != nil || hour < 0 || hour > 23 {
		return fallback
	}
	at := fmt.Sprintf(" at %02d:%02d", hour, minute) + zone
	if fields[4] == "*" {
		return "every day" + at
	}
	if dow, err := strconv.Atoi(fields[4]); err == nil && dow >= 0 && dow <= 7 {
		return "every " + time.Weekday(dow%7).String() + at
	}
	return fallback
}

// describeInterval puts d in words: "minute", "5 minutes", "90s".
func describeInterval(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d%u.d != 0 {
			continue
		}
		if n := d / u.d; n != 1 {
			return fmt.Sprintf("%d %ss", n, u.name)
		}
		return u.name
	}
	return d.String()
}
