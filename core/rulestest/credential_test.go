package rulestest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// TestRunFile_CredentialErrors: a credential fact that is not what the
// agent gives is an error at its value, and no test runs.
func TestRunFile_CredentialErrors(t *testing.T) {
	tests := []struct {
		name, credential, want string
	}{
		{name: "not an object", credential: `"soon"`, want: "credential maps a transport to its credential"},
		{name: "entry not an object", credential: `{ relay = "2026-02-01" }`, want: "credential.relay: a credential is an object"},
		{name: "unknown value", credential: `{ relay = { expire = "2026-02-01" } }`, want: `credential.relay has no value named "expire" (did you mean "expires"?)`},
		{name: "days_left is not given", credential: `{ relay = { days_left = 3 } }`, want: `credential.relay has no value named "days_left"`},
		{name: "a date in another format", credential: `{ relay = { expires = "01.02.2026" } }`, want: `credential.relay: expires: "01.02.2026" is not a date, YYYY-MM-DD`},
		{name: "a time that is not a string", credential: `{ relay = { obtained_at = 5 } }`, want: "credential.relay: obtained_at must be a string"},
		{name: "an unknown source", credential: `{ relay = { source = "portal" } }`, want: `credential.relay: source "portal" is not one of ["certificate" "client_secret_expires" "login" "plugin"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "config = [\"config.hcl\"]\ntest \"x\" {\n  facts \"0m\" {\n    credential = " + tt.credential + "\n  }\n  expect \"1m\" {}\n}\n"
			dir := writeFiles(t, map[string]string{"config.hcl": outboxConfig, "t_test.hcl": src})
			res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
			if res.Passed() || len(res.Tests) != 0 {
				t.Fatalf("passed = %v, tests = %d; want errors and no test run", res.Passed(), len(res.Tests))
			}
			var got []string
			for _, d := range res.Diagnostics {
				got = append(got, fmt.Sprintf("%d:%d: %s: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail))
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], "4:18: Invalid credential fact: ") || !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("diagnostics:\n%s\nwant one at 4:18 with %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestBindCredential: what a facts block gives becomes the agent's facts;
// days_left follows from expires at each evaluation.
func TestBindCredential(t *testing.T) {
	src := `{
  relay = { expires = "2026-02-01", source = "certificate", what = "client certificate" }
  graph = { source = "login", obtained_at = "2025-12-01T08:00:00Z", refreshed_at = "2025-12-31T08:00:00+01:00" }
  none  = {}
}`
	expr, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, diags := bindCredential(&Facts{Credential: v, HasCredential: true})
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	want := map[string]rules.CredentialFact{
		"relay": {Expires: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Source: "certificate", What: "client certificate"},
		"graph": {Source: "login", ObtainedAt: time.Date(2025, 12, 1, 8, 0, 0, 0, time.UTC), RefreshedAt: time.Date(2025, 12, 31, 7, 0, 0, 0, time.UTC)},
		"none":  {},
	}
	if len(got) != len(want) {
		t.Fatalf("facts %v, want %v", got, want)
	}
	for name, w := range want {
		g := got[name]
		if !g.Expires.Equal(w.Expires) || g.Source != w.Source || g.What != w.What || !g.ObtainedAt.Equal(w.ObtainedAt) || !g.RefreshedAt.Equal(w.RefreshedAt) {
			t.Errorf("%s: %+v, want %+v", name, g, w)
		}
	}
}

// TestRunFile_Credential: a rule reads the credential a facts block
// gives, with days_left at each evaluation, until a later block replaces
// it.
func TestRunFile_Credential(t *testing.T) {
	config := outboxConfig + `
rule "soon" {
  schedule = "@every 1h"
  when     = length([for n, c in credential : n if c.days_left != null && c.days_left < 1]) > 0
  notify   = [contact.ops]
  subject  = "${join(",", [for n, c in credential : "${n}:${c.days_left}:${c.source}" if c.days_left != null])}"
}
`
	src := `config = ["config.hcl"]
test "x" {
  facts "0m" {
    credential = { relay = { expires = "2026-01-03", source = "plugin" } }
  }
  facts "30h" {
    credential = { relay = { expires = "2027-01-01", source = "client_secret_expires" } }
  }
  expect "24h" {}
  expect "25h" {
    fire    = ["soon"]
    subject = { soon = "relay:0:plugin" }
  }
  expect "30h" {
    resolve = ["soon"]
    subject = { soon = "relay:363:client_secret_expires" }
  }
}
`
	dir := writeFiles(t, map[string]string{"config.hcl": config, "t_test.hcl": src})
	res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
	if !res.Passed() {
		var msgs []string
		for _, d := range res.Diagnostics {
			msgs = append(msgs, d.Error())
		}
		for _, tr := range res.Tests {
			msgs = append(msgs, fmt.Sprint(tr.Failures))
		}
		t.Fatalf("failed:\n%s", strings.Join(msgs, "\n"))
	}
}
