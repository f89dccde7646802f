package config

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/library"
	"github.com/tocsin-dev/tocsin/core/rules"
	rulefiles "github.com/tocsin-dev/tocsin/rules"
)

// fullLibrary sets every setting of the failover library.
const fullLibrary = `
agent {
  node   = "appliance-b"
  listen = "0.0.0.0:9999"
}
check "product" {
  file = "/etc/product/state.json"
  json = true
}
transport "graph" {
  plugin = "graph"
  from   = "a@example.com"
}
contact "ops_fallback" {
  email = ["ops@example.net"]
  via   = [transport.graph]
}
library "failover" {
  role                = "backup"
  version             = check.product.json.version
  peer_url            = "https://192.0.2.1:9870"
  primary_hostname    = "appliance-a.example.com"
  shared_ips          = ["192.0.2.10", "192.0.2.11"]
  shared_ip_interface = "eth1"
  test_ips            = ["192.0.2.254", "gw.example.com"]
  sync_file           = "sync/last"
  auto_failover       = env("AUTO", "false") == "true"
  backup_ops          = check.product.json.backup_ops
  takeover_after      = "3m"
  log_file            = "agent.log"
  heartbeat           = "0 7 * * *"
  take_settings_from_primary = true
  settings_unsynced_after    = "6h"
  notify              = [contact.ops]

  delivery_alert_after   = "20m"
  delivery_alert_contact = contact.ops_fallback
}
`

func TestLoad_Library(t *testing.T) {
	path := writeConfig(t, ruleBase+fullLibrary)
	dir := filepath.Dir(path)
	cfg, diags := loadWith(path, map[string]string{"AUTO": "true"})
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", locations(diags))
	}

	var checks []string
	for _, c := range cfg.Checks {
		checks = append(checks, c.Name+" "+describeSpec(c.Spec))
	}
	wantChecks := []string{
		"product file /etc/product/state.json",
		"self http https://127.0.0.1:9999/healthz",
		"primary_hostname tcp appliance-a.example.com:9870",
		"shared_ip_0 interface 192.0.2.10 eth1",
		"shared_ip_1 interface 192.0.2.11 eth1",
		"test_ip_0 ping 192.0.2.254",
		"test_ip_1 ping gw.example.com",
		"sync file " + filepath.Join(dir, "sync/last"),
	}
	sameLines(t, "checks", checks, wantChecks)
	if len(cfg.Peers) != 1 || cfg.Peers[0].Name != "partner" || cfg.Peers[0].Spec.Peer.URL != "https://192.0.2.1:9870" || !cfg.Peers[0].Spec.Peer.SettingsFrom {
		t.Errorf("peers = %+v", cfg.Peers)
	}
	for _, c := range append(cfg.Checks, cfg.Peers...) {
		if err := c.Spec.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}

	// Every rule of the library is there, in file order, each notifying
	// the library's contacts (delivery_failing, outbox_store_failing and
	// credential_expiring those of delivery_alert_contact) and with the
	// library's timings.
	var names []string
	byName := map[string]*rules.Rule{}
	for _, r := range cfg.Rules {
		names = append(names, r.Name)
		byName[r.Name] = r
		want := "ops"
		if r.Name == "delivery_failing" || r.Name == "outbox_store_failing" || r.Name == "transport_test_failed" || r.Name == "credential_expiring" {
			want = "ops_fallback"
		}
		if strings.Join(r.Notify, ",") != want {
			t.Errorf("%s notifies %v, want %s", r.Name, r.Notify, want)
		}
		if r.DeclRange.Filename != "rules/"+r.Name+".hcl" {
			t.Errorf("%s is declared at %s", r.Name, r.DeclRange)
		}
	}
	// Every rule file but those for a role read from the facts (their
	// header says "# needs: observed role"): this role is fixed.
	fixed := slices.DeleteFunc(libraryRuleFiles(t), observedRoleRule)
	sameLines(t, "rules", names, fixed)
	if r := byName["takeover"]; r.For != 3*time.Minute {
		t.Errorf("takeover for = %v, want takeover_after", r.For)
	}
	if r := byName["daily_heartbeat"]; r.Schedule != "0 7 * * *" {
		t.Errorf("heartbeat schedule = %q", r.Schedule)
	}
	for _, name := range []string{"startup", "shutdown"} {
		if n := len(byName[name].Attach); n != 1 {
			t.Errorf("%s attaches %d files, want the log", name, n)
		}
	}
	// delivery_failing fires once the longest streak reaches
	// delivery_alert_after.
	for secs, want := range map[time.Duration]bool{20*time.Minute - time.Second: false, 20 * time.Minute: true} {
		f := rules.OutboxFact{Failing: map[string]rules.TransportStreak{"relay": {Failures: 1, FailingFor: secs}}}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"outbox": f.Value()}, Functions: rules.Functions(nil)}
		if holds, err := byName["delivery_failing"].Holds(ctx); err != nil || holds != want {
			t.Errorf("delivery_failing after %v: holds %v, %v; want %v", secs, holds, err, want)
		}
	}
	if _, ok := cfg.Sources["rules/takeover.hcl"]; !ok {
		t.Error("the library's sources are missing, so its diagnostics cannot show their lines")
	}

	// Node facts: settings that read no facts are literals; the others are
	// evaluated like the node block's.
	node, err := rules.EvalNode(cfg.Node.Fields, map[string]facts.Fact{
		"product": {Check: "product", Kind: facts.KindFile, OK: true, Values: map[string]cty.Value{"json": cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal("7.1")})}},
		"sync":    {Check: "sync", Kind: facts.KindFile, OK: true, Values: map[string]cty.Value{"mtime": cty.StringVal("2026-01-01T00:00:00Z")}},
	}, nil, rules.Functions(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]cty.Value{
		"name":          cty.StringVal("appliance-b"),
		"role":          cty.StringVal("backup"),
		"version":       cty.StringVal("7.1"),
		"auto_failover": cty.True,
		"shared_ips":    cty.ListVal([]cty.Value{cty.StringVal("192.0.2.10"), cty.StringVal("192.0.2.11")}),
		"test_ips":      cty.ListVal([]cty.Value{cty.StringVal("192.0.2.254"), cty.StringVal("gw.example.com")}),
		"last_sync":     cty.StringVal("2026-01-01T00:00:00Z"),
	}
	for k, v := range want {
		if !node[k].RawEquals(v) {
			t.Errorf("node.%s = %#v, want %#v", k, node[k], v)
		}
	}
	if len(node) != len(want) {
		t.Errorf("node = %v", node)
	}
}

// libraryRuleFiles lists the rules of the embedded library by file name.
func libraryRuleFiles(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range rulefiles.Files() {
		names = append(names, strings.TrimSuffix(f.Name, ".hcl"))
	}
	if len(names) == 0 {
		t.Fatal("the library embeds no rule file")
	}
	return names
}

// observedRoleRule reports whether the library rule name is one for a
// role read from the facts only, as its file's header says.
func observedRoleRule(name string) bool {
	for _, r := range library.Rules() {
		if r.Name == name {
			return r.Needs == library.NeedObservedRole
		}
	}
	return false
}

func describeSpec(s facts.Spec) string {
	switch s.Kind {
	case facts.KindTCP:
		return "tcp " + s.TCP.Address
	case facts.KindHTTP:
		return "http " + s.HTTP.URL
	case facts.KindInterface:
		return "interface " + s.Interface.Address + " " + s.Interface.Name
	case facts.KindPing:
		return "ping " + s.Ping.Address
	case facts.KindFile:
		return "file " + s.File.Path
	case facts.KindCommand:
		return "command " + strings.Join(s.Command.Argv, " ")
	}
	return string(s.Kind)
}

func TestLoad_LibraryLeavesOut(t *testing.T) {
	tests := []struct {
		name    string
		library string
		extra   string // more configuration
		absent  []string
		checks  []string
	}{
		{
			name:    "only the required settings",
			library: `role = "primary"` + "\n" + `peer_url = "https://192.0.2.2:9870"`,
			absent:  []string{"version_mismatch", "version_unknown", "shared_ip_nic_down", "shared_ip_not_assigned", "backup_isolated", "backup_no_test_ips", "primary_hostname_unreachable", "sync_stale", "sync_unreadable", "delivery_failing", "outbox_store_failing", "transport_test_failed", "role_became_primary", "role_became_backup", "takeover_overdue", "settings_unsynced"},
			checks:  []string{"self"},
		},
		{
			name:    "disabled rules",
			library: `role = "primary"` + "\n" + `peer_url = "https://192.0.2.2:9870"` + "\n" + `version = "7"` + "\n" + `disable = ["daily_heartbeat", "version_mismatch"]`,
			absent:  []string{"daily_heartbeat", "version_mismatch", "shared_ip_nic_down", "shared_ip_not_assigned", "backup_isolated", "backup_no_test_ips", "primary_hostname_unreachable", "sync_stale", "sync_unreadable", "delivery_failing", "outbox_store_failing", "transport_test_failed", "role_became_primary", "role_became_backup", "takeover_overdue", "settings_unsynced"},
			checks:  []string{"self"},
		},
		{
			name:    "delivery_alert_contact given, delivery_failing disabled",
			library: `role = "primary"` + "\n" + `peer_url = "https://192.0.2.2:9870"` + "\n" + `delivery_alert_contact = contact.ops` + "\n" + `disable = ["delivery_failing", "outbox_store_failing"]`,
			absent:  []string{"version_mismatch", "version_unknown", "shared_ip_nic_down", "shared_ip_not_assigned", "backup_isolated", "backup_no_test_ips", "primary_hostname_unreachable", "sync_stale", "sync_unreadable", "delivery_failing", "outbox_store_failing", "role_became_primary", "role_became_backup", "takeover_overdue", "settings_unsynced"},
			checks:  []string{"self"},
		},
		{
			name:    "a self_check command",
			library: `role = "backup"` + "\n" + `peer_url = "https://192.0.2.1:9870"` + "\n" + `self_check = ["/usr/bin/product", "selftest"]`,
			absent:  []string{"version_mismatch", "version_unknown", "shared_ip_nic_down", "shared_ip_not_assigned", "backup_isolated", "backup_no_test_ips", "primary_hostname_unreachable", "sync_stale", "sync_unreadable", "delivery_failing", "outbox_store_failing", "transport_test_failed", "role_became_primary", "role_became_backup", "takeover_overdue", "settings_unsynced"},
			checks:  []string{"self command /usr/bin/product selftest"},
		},
		{
			name:    "a role read from a check: the takeover observed, not predicted",
			extra:   "check \"product\" {\n  file = \"/etc/product/state.json\"\n  json = true\n}\n",
			library: `role = check.product.json.role` + "\n" + `peer_url = "https://192.0.2.1:9870"`,
			absent:  []string{"version_mismatch", "version_unknown", "shared_ip_nic_down", "shared_ip_not_assigned", "backup_isolated", "backup_no_test_ips", "primary_hostname_unreachable", "sync_stale", "sync_unreadable", "delivery_failing", "outbox_store_failing", "transport_test_failed", "takeover", "settings_unsynced"},
			checks:  []string{"product", "self"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+tt.extra+"library \"failover\" {\n"+tt.library+"\nnotify = [contact.ops]\n}\n")
			cfg, diags := loadWith(path, nil)
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", locations(diags))
			}
			have := map[string]*rules.Rule{}
			for _, r := range cfg.Rules {
				have[r.Name] = r
			}
			for _, name := range tt.absent {
				if have[name] != nil {
					t.Errorf("rule %s is there", name)
				}
			}
			if len(have)+len(tt.absent) != len(libraryRuleFiles(t)) {
				t.Errorf("%d rules, %d left out, of %d", len(have), len(tt.absent), len(libraryRuleFiles(t)))
			}
			var checks []string
			for _, c := range cfg.Checks {
				d := c.Name
				if c.Spec.Kind == facts.KindCommand {
					d += " " + describeSpec(c.Spec)
				}
				checks = append(checks, d)
			}
			sameLines(t, "checks", checks, tt.checks)
			// Without log_file, startup attaches nothing.
			if r := have["startup"]; r != nil && len(r.Attach) != 0 {
				t.Errorf("startup attaches %d files", len(r.Attach))
			}
			if v := cfg.Node.Fields["auto_failover"]; v == nil {
				t.Error("auto_failover has no default")
			}
		})
	}
}

func TestLoad_LibraryErrors(t *testing.T) {
	base := "  peer_url = \"https://192.0.2.1:9870\"\n  notify = [contact.ops]\n"
	lib := func(settings string) string {
		return "library \"failover\" {\n  role = \"backup\"\n" + base + settings + "}\n"
	}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown library",
			src:  "library \"failovr\" {\n}\n",
			want: []string{"a.hcl:10:9: error: Unknown library"},
		},
		{
			name: "missing required settings",
			src:  "library \"failover\" {\n}\n",
			want: []string{"a.hcl:10:20: error: Missing required argument", "a.hcl:10:20: error: Missing required argument", "a.hcl:10:20: error: Missing required argument"},
		},
		{
			name: "duplicate library",
			src:  lib("") + "library \"failover\" {\n}\n",
			want: []string{"a.hcl:15:9: error: Duplicate library"},
		},
		{
			name: "bad role",
			src:  "library \"failover\" {\n  role = \"standby\"\n" + base + "}\n",
			want: []string{"a.hcl:11:10: error: Invalid role"},
		},
		{
			name: "role reads an unknown variable",
			src:  "library \"failover\" {\n  role = agent.role\n" + base + "}\n",
			want: []string{"a.hcl:11:10: error: Invalid reference"},
		},
		{
			name: "bad settings",
			src: lib(`  shared_ips = ["192.0.2.10", "not-an-ip"]
  takeover_after = "soon"
  heartbeat = "daily"
  disable = ["takeovr"]
`),
			want: []string{
				"a.hcl:14:31: error: Invalid shared IP",
				"a.hcl:15:20: error: Invalid duration",
				"a.hcl:16:15: error: Invalid schedule",
				"a.hcl:17:14: error: Unknown library rule",
			},
		},
		{
			name: "bad peer_url",
			src:  "library \"failover\" {\n  role = \"backup\"\n  peer_url = \"ftp://x\"\n  notify = [contact.ops]\n}\n",
			want: []string{"a.hcl:12:14: error: Invalid peer_url"},
		},
		{
			name: "unknown contact, reported in the operator's file",
			src:  "library \"failover\" {\n  role = \"backup\"\n  peer_url = \"https://192.0.2.1:9870\"\n  notify = [contact.opz]\n}\n",
			want: []string{"a.hcl:13:13: error: Rule names an unknown contact"},
		},
		{
			name: "a node argument set twice",
			src:  lib("  version = \"7\"\n") + "node {\n  version = \"8\"\n}\n",
			want: []string{"a.hcl:14:3: error: Duplicate node argument"},
		},
		{
			name: "a node default gives way to the node block",
			src:  lib("") + "node {\n  auto_failover = true\n  name = \"b\"\n}\n",
		},
		{
			name: "a check name the library needs",
			src:  lib("  sync_file = \"/x\"\n") + "check \"sync\" {\n  tcp = \"x:1\"\n}\n",
			want: []string{"a.hcl:14:15: error: Duplicate check"},
		},
		{
			name: "a rule name the library needs",
			src:  lib("") + "rule \"takeover\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:10:1: error: Duplicate rule"},
		},
		{
			name: "bad delivery alert settings",
			src:  lib("  delivery_alert_after = \"soon\"\n  delivery_alert_contact = transport.relay\n"),
			want: []string{"a.hcl:14:26: error: Invalid duration", "a.hcl:15:28: error: Invalid contact reference"},
		},
		{
			name: "delivery_alert_after is not positive",
			src:  lib("  delivery_alert_after = \"0s\"\n  delivery_alert_contact = contact.ops\n"),
			want: []string{"a.hcl:14:26: error: Invalid duration"},
		},
		{
			name: "delivery_alert_contact lists nothing",
			src:  lib("  delivery_alert_contact = []\n"),
			want: []string{"a.hcl:14:28: error: Invalid delivery_alert_contact"},
		},
		{
			name: "delivery_alert_contact names an unknown contact, reported at the setting",
			src:  lib("  delivery_alert_contact = contact.pager\n"),
			want: []string{"a.hcl:14:28: error: Rule names an unknown contact"},
		},
		{
			name: "the delivery alert goes through the transport it watches",
			src:  lib("  delivery_alert_contact = [contact.ops]\n"),
			want: []string{"a.hcl:14:29: warning: Delivery alert through the transport it watches"},
		},
		{
			name: "a rule name the library needs, disabled",
			src:  lib("  disable = [\"takeover\"]\n") + "rule \"takeover\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+tt.src)
			_, diags := loadWith(path, nil)
			var got []string
			for _, l := range locations(diags) {
				got = append(got, filepath.Base(l))
			}
			sameLines(t, "diagnostics", got, tt.want)
		})
	}
}

func TestLoadPaths(t *testing.T) {
	a := writeConfig(t, "contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.relay]\n}\n")
	b := writeConfig(t, "transport \"relay\" {\n  plugin = \"smtp-basic\"\n  from = \"a@example.com\"\n}\n")
	cfg, diags := LoadPaths(a, filepath.Dir(b), a)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", locations(diags))
	}
	if len(cfg.Files) != 2 || len(cfg.Contacts) != 1 || len(cfg.Transports) != 1 {
		t.Errorf("files %v, %d contacts, %d transports", cfg.Files, len(cfg.Contacts), len(cfg.Transports))
	}
	// A path that cannot be read is reported, and what the others name
	// from it is not.
	_, diags = LoadPaths(a, filepath.Join(t.TempDir(), "missing.hcl"))
	got := locations(diags)
	if len(got) != 1 || !regexp.MustCompile(`missing\.hcl:1:1: error: Cannot read the configuration$`).MatchString(got[0]) {
		t.Errorf("diagnostics: %v", got)
	}
	_, diags = LoadPaths()
	if !diags.HasErrors() {
		t.Error("no path: no error")
	}
}

// TestLoad_LibraryEvaluateEvery: evaluate_every sets the schedule of the
// library's rules that have none of their own, and the interval of the
// checks it declares; the heartbeat keeps its schedule.
func TestLoad_LibraryEvaluateEvery(t *testing.T) {
	path := writeConfig(t, ruleBase+"library \"failover\" {\nrole = \"backup\"\npeer_url = \"https://192.0.2.1:9870\"\nevaluate_every = \"10s\"\nheartbeat = \"0 8 * * *\"\nnotify = [contact.ops]\n}\n")
	cfg, diags := loadWith(path, nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", locations(diags))
	}
	for _, r := range cfg.Rules {
		want := "@every 10s"
		switch r.Name {
		case "daily_heartbeat":
			want = "0 8 * * *"
		case "credential_expiring":
			// Without delivery_alert_contact, it tells notify's contacts.
			if got := strings.Join(r.Notify, ","); got != "ops" {
				t.Errorf("credential_expiring notifies %v without delivery_alert_contact, want ops", r.Notify)
			}
		}
		if r.Schedule != want {
			t.Errorf("rule %s: schedule %q, want %q", r.Name, r.Schedule, want)
		}
	}
	for _, c := range append(cfg.Checks, cfg.Peers...) {
		if c.Spec.Every != 10*time.Second {
			t.Errorf("check %s: every %v", c.Name, c.Spec.Every)
		}
	}

	path = writeConfig(t, ruleBase+"library \"failover\" {\nrole = \"backup\"\npeer_url = \"https://192.0.2.1:9870\"\nevaluate_every = \"1ms\"\nnotify = [contact.ops]\n}\n")
	_, diags = loadWith(path, nil)
	if got := locations(diags); len(got) != 1 || !strings.Contains(got[0], "Invalid duration") {
		t.Errorf("evaluate_every = 1ms: %v", got)
	}
}

// TestLoad_LibraryDeliveryAlert: delivery_alert_contact names one contact
// or several, as a reference or a string; delivery_failing notifies them
// and reads delivery_alert_after (15m unless set).
func TestLoad_LibraryDeliveryAlert(t *testing.T) {
	extra := "transport \"graph\" {\n  plugin = \"msgraph\"\n  from = \"a@example.com\"\n}\n" +
		"contact \"pager\" {\n  email = [\"pager@example.com\"]\n  via = [transport.graph]\n}\n" +
		"contact \"boss\" {\n  email = [\"boss@example.com\"]\n  via = [transport.graph, transport.relay]\n}\n"
	tests := []struct {
		name    string
		setting string
		notify  string
		after   time.Duration
	}{
		{name: "a reference", setting: `delivery_alert_contact = contact.pager`, notify: "pager", after: 15 * time.Minute},
		{name: "a string", setting: `delivery_alert_contact = "pager"`, notify: "pager", after: 15 * time.Minute},
		{name: "a list, with delivery_alert_after", setting: "delivery_alert_contact = [contact.pager, \"boss\"]\ndelivery_alert_after = \"1h\"", notify: "pager,boss", after: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+extra+"library \"failover\" {\nrole = \"backup\"\npeer_url = \"https://192.0.2.1:9870\"\nnotify = [contact.ops]\n"+tt.setting+"\n}\n")
			cfg, diags := loadWith(path, nil)
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", locations(diags))
			}
			var r *rules.Rule
			for _, rule := range cfg.Rules {
				switch {
				case rule.Name == "delivery_failing":
					r = rule
				case rule.Name == "outbox_store_failing", rule.Name == "transport_test_failed", rule.Name == "credential_expiring":
					if got := strings.Join(rule.Notify, ","); got != tt.notify {
						t.Errorf("%s notifies %v, want %s", rule.Name, rule.Notify, tt.notify)
					}
				case strings.Join(rule.Notify, ",") != "ops":
					t.Errorf("%s notifies %v", rule.Name, rule.Notify)
				}
			}
			if r == nil {
				t.Fatal("no delivery_failing")
			}
			if got := strings.Join(r.Notify, ","); got != tt.notify {
				t.Errorf("delivery_failing notifies %s, want %s", got, tt.notify)
			}
			if r.For != 0 || r.Repeat != time.Hour || r.Severity != "critical" || !r.OnResolve {
				t.Errorf("delivery_failing: for %v, repeat %v, severity %s, on_resolve %v", r.For, r.Repeat, r.Severity, r.OnResolve)
			}
			for d, want := range map[time.Duration]bool{tt.after - time.Second: false, tt.after: true} {
				f := rules.OutboxFact{Failing: map[string]rules.TransportStreak{"relay": {Failures: 3, FailingFor: d}}}
				ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"outbox": f.Value()}, Functions: rules.Functions(nil)}
				if holds, err := r.Holds(ctx); err != nil || holds != want {
					t.Errorf("failing for %v: holds %v, %v; want %v", d, holds, err, want)
				}
			}
		})
	}
}
