package rulestest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// silencesConfig has a rule that says how many silences hold and which.
const silencesConfig = `
transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test]
}
rule "quiet" {
  when    = length(agent.silences) > 0
  notify  = [contact.ops]
  subject = join(", ", [for s in agent.silences : "${s.id} ${s.target} ${s.until} ${s.by}"])
}
`

// TestRunFile_Silences: agent.silences is empty until a facts block gives
// it, holds from there on, and a later block replaces it whole.
func TestRunFile_Silences(t *testing.T) {
	dir := writeFiles(t, map[string]string{"config.hcl": silencesConfig, "t_test.hcl": `
config = ["config.hcl"]

test "silences" {
  facts "1h" {
    silences = [{ target = "all rules", until = "2026-11-24T10:00:00Z", by = "alice" }]
  }
  facts "2h" {
    silences = []
  }
  expect "59m" {}
  expect "1h" {
    fire    = ["quiet"]
    subject = { quiet = "s1 all rules 2026-11-24T10:00:00Z alice" }
  }
  expect "2h" {
    resolve = ["quiet"]
  }
}
`})
	res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
	if !res.Passed() {
		var b bytes.Buffer
		_ = res.WriteDiagnostics(&b)
		_ = res.WriteReport(&b, true)
		t.Fatalf("fails:\n%s", b.String())
	}
}

// TestRunFile_SilencesErrors: malformed silences are reported at the
// value, and no test runs.
func TestRunFile_SilencesErrors(t *testing.T) {
	tests := []struct {
		name, silences, want string
	}{
		{"not a list", `"all"`, "silences is a list of objects"},
		{"no until", `[{ target = "all rules" }]`, `attribute "until" is required`},
		{"no target", `[{ target = "", until = "2026-11-24T10:00:00Z" }]`, "a silence has no target"},
		{"a bad time", `[{ target = "all rules", until = "tomorrow" }]`, `until "tomorrow" is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "config = [\"config.hcl\"]\ntest \"x\" {\n  facts \"0m\" {\n    silences = " + tt.silences + "\n  }\n  expect \"1m\" {}\n}\n"
			dir := writeFiles(t, map[string]string{"config.hcl": silencesConfig, "t_test.hcl": src})
			res := RunFile(filepath.Join(dir, "t_test.hcl"), Options{})
			if res.Passed() || len(res.Tests) != 0 {
				t.Fatalf("passed = %v, tests = %d; want errors and no test run", res.Passed(), len(res.Tests))
			}
			var got []string
			for _, d := range res.Diagnostics {
				got = append(got, fmt.Sprintf("%d:%d: %s: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail))
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], "4:16: Invalid silences: ") || !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("diagnostics:\n%s\nwant one at 4:16 with %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}
