package library

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// Host is what expanding a library block needs from the configuration
// it adds to: the loader implements it with its own bookkeeping, so that
// what the library declares is checked like the operator's blocks.
type Host interface {
	// Declared returns where a block of kind ("check", "peer" or "rule")
	// named name is already declared.
	Declared(kind, name string) (hcl.Range, bool)
	// AddCheck declares a check (a peer when spec is of kind peer),
	// already validated, at rng.
	AddCheck(spec facts.Spec, rng hcl.Range)
	// NodeSet returns where the node fact field is already set.
	NodeSet(field string) (hcl.Range, bool)
	// SetNode sets the node fact field, written at rng.
	SetNode(field string, expr hcl.Expression, rng hcl.Range)
	// AddSource records a rule file of the library, so that diagnostics
	// can show its lines, and checks it as any configuration file.
	AddSource(name string, src []byte) hcl.Diagnostics
	// DecodeRule decodes a rule block with the loader's rule decoder, its
	// expressions evaluated with vars besides the loader's functions; it
	// returns the rule, or nil when it was not added.
	DecodeRule(block *hcl.Block, vars map[string]cty.Value) (*rules.Rule, hcl.Diagnostics)
	// ContactRef returns the contact an element of a notify list names,
	// as the rules' notify lists are read; ok is false when it names none.
	ContactRef(el hcl.Expression) (name string, ok bool)
	// ContactVia returns the transports a declared contact sends through,
	// in order; nil for an unknown contact.
	ContactVia(name string) []string
}

// Agent is what expanding a library block needs to know of the agent.
type Agent struct {
	// Node is the agent's node name, its default when no file sets it.
	Node string
	// Listen is the agent's listen address.
	Listen string
	// TLS says whether the agent serves TLS.
	TLS bool
	// DefaultSchedule is the schedule of a rule that sets none: a
	// library rule that keeps it follows evaluate_every.
	DefaultSchedule string
}

// Expand adds what the library block declares: the peer, the checks, the
// node facts and the rules of the library. It runs once every file is
// loaded and before the references to contacts are checked; a block that
// failed to decode adds nothing.
func (lib *Block) Expand(host Host, agent Agent) hcl.Diagnostics {
	if lib == nil || lib.failed {
		return nil
	}
	// A check or node fact that cannot be declared would make every rule
	// that reads it an error too: report the cause alone.
	diags := lib.addChecks(host, agent)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, lib.setNode(host, agent)...)
	if diags.HasErrors() {
		return diags
	}
	return append(diags, lib.addRules(host, agent)...)
}

// setNode sets the node facts the library's rules read. A setting
// given in the library block and in a node block is an error; a default
// (auto_failover, the lists, name) gives way to the node block.
func (lib *Block) setNode(host Host, agent Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	set := func(field, setting string, expr hcl.Expression) {
		attr, explicit := lib.attrs[setting]
		if prev, isSet := host.NodeSet(field); isSet {
			if explicit {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate node argument",
					Detail: fmt.Sprintf("The library sets node.%s from %s, and a node block sets it at %s. Set it in one place.",
						field, setting, hcldecode.Where(prev)),
					Subject: attr.NameRange.Ptr(),
				})
			}
			return
		}
		rng := lib.defRange
		if explicit {
			rng = attr.NameRange
		}
		host.SetNode(field, expr, rng)
	}
	lit := func(v cty.Value) hcl.Expression {
		return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: lib.defRange}
	}
	set("name", "", lit(cty.StringVal(agent.Node)))
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

// addChecks declares the peer and the checks of the library.
func (lib *Block) addChecks(host Host, agent Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	add := func(spec facts.Spec, setting string, rng hcl.Range) {
		kind := "check"
		if spec.Kind == facts.KindPeer {
			kind = "peer"
		}
		if prev, dup := host.Declared(kind, spec.Name); dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + kind,
				Detail: fmt.Sprintf("The failover library declares %s %q for %s, and a %s of that name is already declared at %s. Rename yours.",
					kind, spec.Name, setting, kind, hcldecode.Where(prev)),
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
		host.AddCheck(spec, rng)
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
		add(facts.Spec{Name: SelfCheck, Kind: facts.KindHTTP, HTTP: &facts.HTTPSpec{URL: selfURL(agent.Listen, agent.TLS), TLSSkipVerify: agent.TLS}}, "the library", lib.defRange)
	}
	if lib.primaryHostname != "" {
		add(facts.Spec{Name: PrimaryHostnameCheck, Kind: facts.KindTCP, TCP: &facts.TCPSpec{Address: hostPort(lib.primaryHostname, lib.peerURL)}},
			"primary_hostname", exprRange("primary_hostname"))
	}
	for i, ip := range lib.sharedIPs {
		add(facts.Spec{Name: fmt.Sprintf("%s%d", sharedIPCheckPrefix, i), Kind: facts.KindInterface,
			Interface: &facts.InterfaceSpec{Address: ip.Value, Name: lib.sharedIPInterface}}, "shared_ips", ip.Range)
	}
	for i, ip := range lib.testIPs {
		add(facts.Spec{Name: fmt.Sprintf("%s%d", testIPCheckPrefix, i), Kind: facts.KindPing,
			Ping: &facts.PingSpec{Address: ip.Value}}, "test_ips", ip.Range)
	}
	if lib.syncFile != "" {
		add(facts.Spec{Name: SyncCheck, Kind: facts.KindFile, File: &facts.FileSpec{Path: lib.syncFile, MaxBytes: 4096}}, "sync_file", exprRange("sync_file"))
	}
	return diags
}

// addRules decodes the library's rule files with the host's rule
// decoder, so that their diagnostics point at rules/FILE:LINE:COL, and
// adds the rules whose needs are given and that are not disabled. Each
// rule notifies the contacts its header names (the block's notify unless
// it says otherwise); its expressions see the variable library (see
// libraryExpr).
func (lib *Block) addRules(host Host, agent Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	notify, ok := lib.attrs["notify"].Expr.(hclsyntax.Expression)
	if !ok {
		return nil
	}
	disabled := map[string]bool{}
	for _, d := range lib.disable {
		disabled[d.Value] = true
	}
	alerts := false // delivery_failing is added
	static := lib.staticValue()
	vars := map[string]cty.Value{libraryVariable: static}
	parser := hclparse.NewParser()
	for _, rule := range Rules() {
		if d := host.AddSource(rule.File, rule.Src); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		hf, d := parser.ParseHCL(rule.Src, rule.File)
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
			name := block.Labels[0]
			if rule.Err != nil || name != rule.Name {
				detail := fmt.Sprintf("The library rule %q must be named as its file, %s.", name, rule.File)
				if rule.Err != nil {
					detail = fmt.Sprintf("The header of %s is not valid: %v; this is a defect of Tocsin.", rule.File, rule.Err)
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid library rule",
					Detail: detail, Subject: block.LabelRanges[0].Ptr()})
				continue
			}
			if disabled[name] {
				continue
			}
			if rule.Needs != "" && !lib.given(rule.Needs) {
				continue
			}
			if prev, dup := host.Declared("rule", name); dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate rule",
					Detail: fmt.Sprintf("The failover library declares rule %q, and a rule of that name is already declared at %s. Rename yours, or leave the library's out with disable = [%q].",
						name, hcldecode.Where(prev), name),
					Subject: lib.defRange.Ptr(),
				})
				continue
			}
			if _, set := block.Body.Attributes["notify"]; !set {
				block.Body.Attributes["notify"] = lib.notifyAttr(rule.Notify, notify)
			}
			r, d := host.DecodeRule(block.AsHCLBlock(), vars)
			diags = append(diags, d...)
			if r != nil {
				if r.Schedule == agent.DefaultSchedule && lib.evaluateEvery > 0 {
					r.Schedule = "@every " + lib.evaluateEvery.String()
				}
				wrapRule(r, static, lib.backupOps)
				alerts = alerts || r.Name == "delivery_failing"
			}
		}
	}
	if alerts {
		diags = append(diags, lib.deliveryAlertWarnings(host)...)
	}
	return diags
}

// notifyAttr is the notify argument of a library rule: the setting its
// header names, or the library's notify, whose expression is given.
func (lib *Block) notifyAttr(setting string, notify hclsyntax.Expression) *hclsyntax.Attribute {
	attr := lib.attrs["notify"]
	if setting != "notify" && lib.attrs[setting] != nil {
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
func (lib *Block) deliveryAlertWarnings(host Host) hcl.Diagnostics {
	first := map[string]bool{}
	elems, _ := hcl.ExprList(lib.attrs["notify"].Expr)
	for _, el := range elems {
		name, ok := host.ContactRef(el)
		if via := host.ContactVia(name); ok && len(via) > 0 {
			first[via[0]] = true
		}
	}
	var diags hcl.Diagnostics
	for _, ref := range lib.deliveryAlert {
		via := host.ContactVia(ref.Value)
		if len(via) == 0 || !first[via[0]] {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Delivery alert through the transport it watches",
			Detail: fmt.Sprintf("Contact %q sends through transport %q first, as the library's notify contacts do: when %s keeps failing, the alert that says so waits behind it. Name a contact whose via starts with another transport.",
				ref.Value, via[0], via[0]),
			Subject: ref.Range.Ptr(),
		})
	}
	return diags
}

// given reports whether the library block gives what a rule needs: an
// empty list of shared or test IPs is the same as none, so that
// test_ips = [] does not leave the backup "isolated" for want of a test
// IP that answers. NeedStaticRole and NeedObservedRole say whether role
// is fixed or read from the facts, which the agent then sees change.
func (lib *Block) given(need string) bool {
	switch need {
	case NeedStaticRole, NeedObservedRole:
		// role reads facts: the agent sees it change.
		observed := lib.role != nil && len(lib.role.Variables()) > 0
		return observed == (need == NeedObservedRole)
	}
	if _, ok := lib.attrs[need]; !ok {
		return false
	}
	switch need {
	case "shared_ips":
		return len(lib.sharedIPs) > 0
	case "test_ips":
		return len(lib.testIPs) > 0
	case "take_settings_from_primary":
		return lib.peer.SettingsFrom
	}
	return true
}
