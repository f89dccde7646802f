package config

import (
	"path/filepath"
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
