package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ruleBase = `
transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
`

func TestLoad_Rules(t *testing.T) {
	path := writeConfig(t, ruleBase+`
check "version" {
  command = ["/usr/bin/product", "--version"]
}
peer "primary" {
  url = "http://127.0.0.1:9870"
}
node {
  role    = "backup"
  version = check.version.stdout
}
rule "version_mismatch" {
  schedule = "CRON_TZ=Europe/Berlin */5 * * * *"
  when     = peer.primary.version != node.version
  for      = "10m"
  repeat   = "1d"
  notify   = [contact.ops, "ops"]
  severity = "critical"
  subject  = "Version mismatch: ${node.version}"
  text     = "here ${node.version}"
  html     = "<p>${node.version}</p>"
  attach   = ["/var/log/x"]
  on_resolve = false
}
rule "defaults" {
  when    = true
  notify  = [contact.ops]
  subject = "x"
}
`)
	cfg, diags := loadWith(path, nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", locations(diags))
	}
	if len(cfg.Rules) != 2 {
		t.Fatalf("rules = %d", len(cfg.Rules))
	}
	r := cfg.Rules[0]
	if r.Name != "version_mismatch" || r.Schedule != "CRON_TZ=Europe/Berlin */5 * * * *" || r.For != 10*time.Minute || r.Repeat != 24*time.Hour ||
		len(r.Notify) != 2 || r.Notify[0] != "ops" || r.Severity != "critical" || r.OnResolve || r.When == nil || r.HTML == nil || len(r.Attach) != 1 {
		t.Errorf("rule = %+v", r)
	}
	d := cfg.Rules[1]
	if d.Schedule != DefaultSchedule || d.Severity != "warning" || !d.OnResolve || d.For != 0 || d.Text != nil {
		t.Errorf("defaults = %+v", d)
	}
	if len(cfg.Node.Fields) != 2 || cfg.Node.Fields["version"] == nil {
		t.Errorf("node = %+v", cfg.Node)
	}
}

func TestLoad_RuleErrors(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want []string
	}{
		{
			name: "bad cron spec",
			rule: "rule \"r\" {\n  schedule = \"*/5 * * *\"\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:14: error: Invalid schedule"},
		},
		{
			name: "CRON_TZ with nothing after it",
			rule: "rule \"r\" {\n  schedule = \"CRON_TZ=UTC\"\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:14: error: Invalid schedule"},
		},
		{
			name: "bad duration",
			rule: "rule \"r\" {\n  for = \"ten minutes\"\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:9: error: Invalid duration"},
		},
		{
			name: "unknown contact",
			rule: "rule \"r\" {\n  when = true\n  notify = [contact.opz]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:12:13: error: Rule names an unknown contact"},
		},
		{
			name: "bad severity",
			rule: "rule \"r\" {\n  severity = \"panic\"\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:14: error: Invalid severity"},
		},
		{
			name: "missing when",
			rule: "rule \"r\" {\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:10:10: error: Missing required argument"},
		},
		{
			name: "unknown check",
			rule: "rule \"r\" {\n  when = !check.web.ok\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:11: error: Unknown check"},
		},
		{
			name: "unknown fact field with suggestion",
			rule: "check \"web\" {\n  http = \"http://127.0.0.1/\"\n}\nrule \"r\" {\n  when = check.web.stauts != 200\n  notify = [contact.ops]\n  subject = \"x ${check.web.bodyy}\"\n}\n",
			want: []string{"a.hcl:14:10: error: Unknown fact", "a.hcl:16:18: error: Unknown fact"},
		},
		{
			name: "type error in when",
			rule: "check \"web\" {\n  http = \"http://127.0.0.1/\"\n}\nrule \"r\" {\n  when = check.web.ok + 1 > 2\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:14:10: error: Invalid operand"},
		},
		{
			name: "when is not a bool",
			rule: "check \"web\" {\n  http = \"http://127.0.0.1/\"\n}\nrule \"r\" {\n  when = check.web.status\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:14:10: error: Condition is not a bool"},
		},
		{
			name: "unknown variable",
			rule: "rule \"r\" {\n  when = nodes.role == \"backup\"\n  notify = [contact.ops]\n  subject = \"${rule.nam}\"\n}\n",
			want: []string{"a.hcl:11:10: error: Unknown variable", "a.hcl:13:16: error: Unknown fact"},
		},
		{
			name: "unknown outbox field with suggestion",
			rule: "rule \"r\" {\n  when = outbox.failng_for > 0\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Unknown fact"},
		},
		{
			name: "unknown field of a failing transport, in a template",
			rule: "rule \"r\" {\n  when = outbox.dead > 0\n  notify = [contact.ops]\n  subject = \"${outbox.failing.relay.last_eror} ${outbox.failing[\"graph\"].reason}\"\n}\n",
			want: []string{"a.hcl:13:16: error: Unknown fact", "a.hcl:13:50: error: Unknown fact"},
		},
		{
			name: "a field of a number",
			rule: "rule \"r\" {\n  when = outbox.pending.count > 0\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:24: error: Unsupported attribute"},
		},
		{
			name: "outbox type error in when",
			rule: "rule \"r\" {\n  when = outbox.failing > 1\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Invalid operand"},
		},
		{
			name: "outbox is not a bool",
			rule: "rule \"r\" {\n  when = outbox.failing_for\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Condition is not a bool"},
		},
		{
			name: "the node block cannot read outbox",
			rule: "node {\n  role = outbox.pending > 0 ? \"primary\" : \"backup\"\n}\n",
			want: []string{"a.hcl:11:10: error: Unknown variable"},
		},
		{
			name: "unknown check in text",
			rule: "rule \"r\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n  text = \"${check.nope.ok}\"\n}\n",
			want: []string{"a.hcl:14:13: error: Unknown check"},
		},
		{
			name: "unknown fact in html",
			rule: "rule \"r\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n  html = \"<p>${rule.nam}</p>\"\n}\n",
			want: []string{"a.hcl:14:16: error: Unknown fact"},
		},
		{
			name: "rule is read in templates only",
			rule: "rule \"r\" {\n  when = rule.state == \"firing\"\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Unknown variable"},
		},
		{
			name: "unknown peer",
			rule: "rule \"r\" {\n  when = peer.nope.reachable\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Unknown peer"},
		},
		{
			name: "type error on a peer field",
			rule: "rule \"r\" {\n  when = peer.primary.reachable + 1 > 2\n  notify = [contact.ops]\n  subject = \"x\"\n}\npeer \"primary\" {\n  url = \"http://127.0.0.1:9870\"\n}\n",
			want: []string{"a.hcl:11:10: error: Invalid operand"},
		},
		{
			name: "type error on an agent field",
			rule: "rule \"r\" {\n  when = agent.stopping + 1 > 2\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:11:10: error: Invalid operand"},
		},
		{
			name: "duplicate rule",
			rule: "rule \"r\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\nrule \"r\" {\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n",
			want: []string{"a.hcl:15:6: error: Duplicate rule"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+tt.rule)
			_, diags := loadWith(path, nil)
			got := locations(diags)
			for i := range got {
				got[i] = filepath.Base(got[i])
			}
			sameLines(t, "diagnostics", got, tt.want)
		})
	}
}

// TestLoad_RuleRefsAccepted: what the reference check must let through:
// a check read by index, and node fields of any type (each is an
// expression, here a bool and a list).
func TestLoad_RuleRefsAccepted(t *testing.T) {
	path := writeConfig(t, ruleBase+`check "web" {
  http = "http://127.0.0.1/"
}
node {
  auto_failover = check.web.ok
  shared_ips    = ["192.0.2.1"]
}
rule "r" {
  when    = node.auto_failover && node.shared_ips[0] == "192.0.2.1" && check["web"].ok && check.web["status"] == 200
  notify  = [contact.ops]
  subject = "${check["web"].error} ${agent.node}"
}
`)
	if _, diags := loadWith(path, nil); len(diags) > 0 {
		t.Errorf("diagnostics: %v", locations(diags))
	}
}

// TestLoad_AttachReferencesChecked: an attach expression's references are
// checked at load like the other templates', so a misspelt check is an
// error at its file:line:col and not an attachment that silently
// disappears when the rule fires.
func TestLoad_AttachReferencesChecked(t *testing.T) {
	path := writeConfig(t, ruleBase+`rule "r" {
  when    = true
  notify  = [contact.ops]
  subject = "x"
  attach  = ["/var/log/${check.nope.path}", "/var/log/${check.web.stauts}", "/var/log/${check.web.status}"]
}
check "web" {
  http = "http://127.0.0.1/"
}
`)
	_, diags := loadWith(path, nil)
	got := locations(diags)
	sameLines(t, "diagnostics", got, []string{
		path + ":14:26: error: Unknown check",
		path + ":14:57: error: Unknown fact",
	})
	for i, want := range []string{`No check block is named "nope".`, `Did you mean "status"?`} {
		if i < len(diags) && !strings.Contains(diags[i].Detail, want) {
			t.Errorf("%s: detail %q does not say %q", got[i], diags[i].Detail, want)
		}
	}
}

// TestLoad_OutboxRefs: rules may read every part of the outbox fact, in
// conditions and templates.
func TestLoad_OutboxRefs(t *testing.T) {
	path := writeConfig(t, ruleBase+`
rule "channel" {
  when = (outbox.failing_for >= duration("15m") || outbox.pending > 100 || outbox.dead > 0 ||
    outbox.oldest_age > duration("1h") || outbox.failing["relay"].failures > 3 ||
    contains(keys(outbox.failing), "graph") || try(outbox.failing.gmail.failing_for > 60, false))
  notify  = [contact.ops]
  subject = "${join(", ", [for name, s in outbox.failing : "${name}: ${s.last_error} (${s.failures}, ${s.failing_for}s)"])}"
  text    = "${outbox.pending} pending, ${outbox.dead} dead, oldest ${outbox.oldest_age}s, ${outbox.failing.relay.last_error}"
}
`)
	_, diags := loadWith(path, nil)
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", locations(diags))
	}
}
