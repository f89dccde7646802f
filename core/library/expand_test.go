package library

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// fakeEnv decodes a library block without a configuration loader.
type fakeEnv struct{}

func (fakeEnv) EvalContext() *hcl.EvalContext { return &hcl.EvalContext{} }

func (fakeEnv) String(attr *hcl.Attribute) (string, hcl.Diagnostics) {
	v, diags := hcldecode.Value(attr, nil, cty.String)
	if diags.HasErrors() || v.IsNull() {
		return "", append(diags, hcldecode.AttrError(attr, "Missing value", "null"))
	}
	return v.AsString(), diags
}

func (fakeEnv) Path(p string) string { return path.Join("/etc/tocsin", p) }

func (fakeEnv) PeerSecurity(*facts.PeerSpec, hcl.Attributes) hcl.Diagnostics { return nil }

func (fakeEnv) ContactRef(el hcl.Expression, _ string) (string, hcl.Diagnostics) {
	tr, diags := hcl.AbsTraversalForExpr(el)
	if diags.HasErrors() || len(tr) != 2 {
		return "", diags
	}
	return tr[1].(hcl.TraverseAttr).Name, nil
}

// fakeHost records what a library block declares.
type fakeHost struct {
	checks   []string
	node     map[string]hcl.Expression
	sources  []string
	rules    []*rules.Rule
	notifies map[string]string // rule -> the notify expression's source
	declared map[string]bool   // kind/name declared by the operator
	src      []byte            // the block's file
}

func (h *fakeHost) Declared(kind, name string) (hcl.Range, bool) {
	return hcl.Range{Filename: "a.hcl"}, h.declared[kind+"/"+name]
}

func (h *fakeHost) AddCheck(spec facts.Spec, _ hcl.Range) {
	h.checks = append(h.checks, string(spec.Kind)+" "+spec.Name)
}

func (h *fakeHost) NodeSet(string) (hcl.Range, bool) { return hcl.Range{}, false }

func (h *fakeHost) SetNode(field string, expr hcl.Expression, _ hcl.Range) { h.node[field] = expr }

func (h *fakeHost) AddSource(name string, _ []byte) hcl.Diagnostics {
	h.sources = append(h.sources, name)
	return nil
}

func (h *fakeHost) DecodeRule(block *hcl.Block, vars map[string]cty.Value) (*rules.Rule, hcl.Diagnostics) {
	// The fake reads the attributes only: blocks such as flapping are the
	// real rule decoder's business.
	attrs, _ := block.Body.JustAttributes()
	var diags hcl.Diagnostics
	r := &rules.Rule{Name: block.Labels[0], Schedule: "@every 1m"}
	if a := attrs["schedule"]; a != nil {
		v, d := a.Expr.Value(&hcl.EvalContext{Variables: vars})
		diags = append(diags, d...)
		r.Schedule = v.AsString()
	}
	rng := attrs["notify"].Expr.Range()
	h.notifies[r.Name] = string(rng.SliceBytes(h.src))
	h.rules = append(h.rules, r)
	return r, diags
}

func (h *fakeHost) ContactRef(el hcl.Expression) (string, bool) {
	name, d := fakeEnv{}.ContactRef(el, "notify")
	return name, !d.HasErrors()
}

func (h *fakeHost) ContactVia(name string) []string {
	return map[string][]string{"ops": {"relay"}, "pager": {"graph"}}[name]
}

// TestExpand: the library expands without the configuration package,
// adding the rules whose needs (their headers) the settings give, each
// notifying the contacts its header names.
func TestExpand(t *testing.T) {
	src := []byte(`library "failover" {
  role                   = "backup"
  peer_url               = "http://192.0.2.1:9870"
  notify                 = [contact.ops]
  version                = "7"
  sync_file              = "sync"
  evaluate_every         = "10s"
  delivery_alert_contact = contact.pager
  disable                = ["startup"]
}
`)
	f, diags := hclsyntax.ParseConfig(src, "a.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	lib, diags := Decode(f.Body.(*hclsyntax.Body).Blocks[0].AsHCLBlock(), fakeEnv{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	host := &fakeHost{node: map[string]hcl.Expression{}, notifies: map[string]string{}, declared: map[string]bool{}, src: src}
	diags = lib.Expand(host, Agent{Node: "b", Listen: "127.0.0.1:9870", DefaultSchedule: "@every 1m"})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if got, want := strings.Join(host.checks, ", "), "peer partner, http self, file sync"; got != want {
		t.Errorf("checks: %s, want %s", got, want)
	}
	if len(host.sources) != len(RuleNames()) {
		t.Errorf("%d sources for %d rule files", len(host.sources), len(RuleNames()))
	}
	var names []string
	for _, r := range host.rules {
		names = append(names, r.Name)
		want := "@every 10s"
		if r.Name == "daily_heartbeat" {
			want = DefaultHeartbeat
		}
		if r.Schedule != want {
			t.Errorf("%s: schedule %q, want %q", r.Name, r.Schedule, want)
		}
		wantNotify := "[contact.ops]"
		if r.Name == "delivery_failing" || r.Name == "outbox_store_failing" || r.Name == "transport_test_failed" || r.Name == "credential_expiring" {
			wantNotify = "contact.pager"
		}
		if got := host.notifies[r.Name]; got != wantNotify {
			t.Errorf("%s notifies %s, want %s", r.Name, got, wantNotify)
		}
	}
	for _, absent := range []string{"startup", "role_became_primary", "role_became_backup", "takeover_overdue", "shared_ip_nic_down", "backup_isolated", "primary_hostname_unreachable"} {
		if slices.Contains(names, absent) {
			t.Errorf("%s is there", absent)
		}
	}
	for _, present := range []string{"takeover", "version_mismatch", "sync_stale", "delivery_failing", "outbox_store_failing", "transport_test_failed", "shutdown"} {
		if !slices.Contains(names, present) {
			t.Errorf("%s is missing", present)
		}
	}
	if len(host.node) != 7 {
		t.Errorf("node facts: %v", host.node)
	}

	// A rule name the operator already uses is an error at the block.
	host = &fakeHost{node: map[string]hcl.Expression{}, notifies: map[string]string{}, declared: map[string]bool{"rule/takeover": true}, src: src}
	diags = lib.Expand(host, Agent{Node: "b", DefaultSchedule: "@every 1m"})
	if len(diags) != 1 || diags[0].Summary != "Duplicate rule" || diags[0].Subject.Start.Line != 1 {
		t.Errorf("diagnostics: %v", diags)
	}
}
