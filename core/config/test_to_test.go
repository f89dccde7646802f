package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTransport_TestTo: a transport's test_to is a list of addresses,
// checked as a contact's email is (each element at its own range); left
// out or empty, the transport sends no test mail.
func TestTransport_TestTo(t *testing.T) {
	for _, tt := range []struct {
		name, testTo string
		want         []string
		err          string // in a diagnostic; "" for none
	}{
		{name: "left out", testTo: ""},
		{name: "empty", testTo: `test_to = []`},
		{name: "two", testTo: `test_to = ["ops@example.com", " Ops Pager <pager@example.net> "]`, want: []string{"ops@example.com", "Ops Pager <pager@example.net>"}},
		{name: "from the environment", testTo: `test_to = [env("TEST_TO")]`, want: []string{"env@example.org"}},
		{name: "not an address", testTo: `test_to = ["ops@example.com", "nobody"]`, err: `a.hcl:7:33: "nobody" is not an email address`},
		{name: "null element", testTo: `test_to = [null]`, err: "An email address must not be null."},
		{name: "not a list", testTo: `test_to = 3`, err: "list of string required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.hcl")
			src := `agent {
  node = "n"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  ` + tt.testTo + `
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
`
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := loadWith(path, map[string]string{"TEST_TO": "env@example.org"})
			if tt.err != "" {
				var all []string
				for _, d := range diags {
					s := d.Summary + ": " + d.Detail
					if d.Subject != nil {
						s = fmt.Sprintf("%s:%d:%d: %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, d.Detail)
					}
					all = append(all, s)
				}
				if !diags.HasErrors() || !strings.Contains(strings.Join(all, "\n"), tt.err) {
					t.Fatalf("diagnostics %q; want an error with %q", all, tt.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := cfg.Transports[0].TestTo; !slices.Equal(got, tt.want) {
				t.Errorf("TestTo = %q, want %q", got, tt.want)
			}
		})
	}
}
