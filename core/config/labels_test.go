package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestLoad_RuleLabels: a rule's labels decode into Rule.Labels; names
// Alertmanager refuses, names the agent sets itself, empty values and
// values that are not strings are errors at the labels' position.
func TestLoad_RuleLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels string
		want   map[string]string
		errs   []string
	}{
		{name: "none", labels: "", want: nil},
		{name: "empty map", labels: "labels = {}", want: nil},
		{name: "two", labels: `labels = { team = "net", service = "vpn" }`, want: map[string]string{"team": "net", "service": "vpn"}},
		{name: "quoted name", labels: `labels = { "cost_center" = "4711" }`, want: map[string]string{"cost_center": "4711"}},
		{name: "reserved node", labels: `labels = { node = "x" }`, errs: []string{"a.hcl:11:12: error: Reserved label"}},
		{name: "reserved alertname", labels: `labels = { alertname = "x" }`, errs: []string{"a.hcl:11:12: error: Reserved label"}},
		{name: "dash in name", labels: `labels = { "team-a" = "x" }`, errs: []string{"a.hcl:11:12: error: Invalid label name"}},
		{name: "double underscore", labels: `labels = { __name = "x" }`, errs: []string{"a.hcl:11:12: error: Invalid label name"}},
		{name: "digit first", labels: `labels = { "1team" = "x" }`, errs: []string{"a.hcl:11:12: error: Invalid label name"}},
		{name: "empty value", labels: `labels = { team = " " }`, errs: []string{"a.hcl:11:12: error: Empty label"}},
		{name: "not a map", labels: `labels = ["team"]`, errs: []string{"a.hcl:11:12: error: "}},
		{name: "number value converts", labels: `labels = { tier = 1 }`, want: map[string]string{"tier": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+"rule \"r\" {\n  "+tt.labels+"\n  when = true\n  notify = [contact.ops]\n  subject = \"x\"\n}\n")
			cfg, diags := loadWith(path, nil)
			got := locations(diags)
			for _, w := range tt.errs {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, "/"+w) }) {
					t.Errorf("diagnostics %q; want one at %q", got, w)
				}
			}
			if len(tt.errs) > 0 {
				return
			}
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %q", got)
			}
			if l := cfg.Rules[0].Labels; !reflect.DeepEqual(l, tt.want) {
				t.Errorf("labels = %v; want %v", l, tt.want)
			}
		})
	}
}
