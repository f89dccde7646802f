package config

import (
	"strings"
	"testing"
)

// TestLoad_OnResolveCondition: on_resolve may be a condition over the
// facts (checked like when: what it reads must exist, and it must be a
// bool) as well as a constant.
func TestLoad_OnResolveCondition(t *testing.T) {
	tests := []struct {
		name, onResolve string
		// want is a substring of the error, "" for none.
		want string
		// cond: the rule gets a ResolveIf; else OnResolve is constant.
		cond, on bool
	}{
		{name: "constant false", onResolve: `false`, on: false},
		{name: "constant true", onResolve: `true`, on: true},
		{name: "a condition", onResolve: `node.role == "primary"`, cond: true, on: true},
		{name: "an unknown check", onResolve: `check.nope.ok`, want: `No check block is named "nope"`},
		{name: "not a bool", onResolve: `"role ${node.role}"`, want: `The on_resolve of rule "r" is a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+`
node {
  role = "primary"
}
rule "r" {
  when       = true
  notify     = [contact.ops]
  subject    = "x"
  on_resolve = `+tt.onResolve+`
}
`)
			cfg, diags := loadWith(path, nil)
			if tt.want != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
					t.Fatalf("diagnostics = %v, want %q", diags, tt.want)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", locations(diags))
			}
			r := cfg.Rules[0]
			if (r.ResolveIf != nil) != tt.cond || r.OnResolve != tt.on {
				t.Errorf("ResolveIf set %v, OnResolve %v; want %v, %v", r.ResolveIf != nil, r.OnResolve, tt.cond, tt.on)
			}
		})
	}
}
