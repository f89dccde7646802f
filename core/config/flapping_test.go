package config

import (
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// TestLoad_Flapping: a rule's flapping block becomes its rules.Flap;
// each mistake is an error at the attribute that says what to write.
func TestLoad_Flapping(t *testing.T) {
	tests := []struct {
		name, block string
		want        rules.Flap
		// err is a substring of the error, and at the line:col it
		// must point at; "" for none.
		err, at string
	}{
		{name: "none", block: ``},
		{name: "all three", block: "flapping {\n  changes = 4\n  within = \"1h\"\n  settle = \"30m\"\n}",
			want: rules.Flap{Changes: 4, Window: time.Hour, Settle: 30 * time.Minute}},
		{name: "settle left to within", block: "flapping {\n  changes = 2\n  within = \"1d\"\n}",
			want: rules.Flap{Changes: 2, Window: 24 * time.Hour}},
		{name: "settle as long as within", block: "flapping {\n  changes = 1000\n  within = \"1h\"\n  settle = \"60m\"\n}",
			want: rules.Flap{Changes: 1000, Window: time.Hour, Settle: time.Hour}},
		{name: "one change is no flapping", block: "flapping {\n  changes = 1\n  within = \"1h\"\n}",
			err: "changes is a whole number from 2 to 1000", at: ":16:13"},
		{name: "too many changes", block: "flapping {\n  changes = 1001\n  within = \"1h\"\n}",
			err: "changes is a whole number from 2 to 1000", at: ":16:13"},
		{name: "a fraction", block: "flapping {\n  changes = 2.5\n  within = \"1h\"\n}",
			err: "changes is a whole number", at: ":16:13"},
		{name: "within missing", block: "flapping {\n  changes = 3\n}",
			err: `The argument "within" is required`},
		{name: "within zero", block: "flapping {\n  changes = 3\n  within = \"0s\"\n}",
			err: `"0s" is not a duration longer than zero`, at: ":17:12"},
		{name: "settle not a duration", block: "flapping {\n  changes = 3\n  within = \"1h\"\n  settle = \"soon\"\n}",
			err: `"soon" is not a duration longer than zero`, at: ":18:12"},
		{name: "settle longer than within", block: "flapping {\n  changes = 3\n  within = \"1h\"\n  settle = \"61m\"\n}",
			err: "settle (1h1m0s) is longer than within (1h0m0s)", at: ":18:12"},
		{name: "two blocks", block: "flapping {\n  changes = 3\n  within = \"1h\"\n}\nflapping {\n  changes = 3\n  within = \"1h\"\n}",
			err: "already has a flapping block at", at: ":19:1"},
		{name: "an unknown argument", block: "flapping {\n  changes = 3\n  within = \"1h\"\n  window = \"1h\"\n}",
			err: `An argument named "window" is not expected here`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, ruleBase+`
rule "r" {
  when    = true
  notify  = [contact.ops]
  subject = "x"
`+tt.block+`
}
`)
			cfg, diags := loadWith(path, nil)
			if tt.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.err) {
					t.Fatalf("diagnostics = %v, want %q", diags, tt.err)
				}
				if tt.at != "" && !strings.Contains(strings.Join(locations(diags), " "), tt.at) {
					t.Fatalf("diagnostics at %v, want one at line %s", locations(diags), tt.at)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", locations(diags))
			}
			if got := cfg.Rules[0].Flap; got != tt.want {
				t.Errorf("Flap = %+v, want %+v", got, tt.want)
			}
		})
	}
}
