package rulestest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseFile_Limits: a rules test file goes through the same limits as
// a configuration (issue 11, finding 2): 70,000 parentheses are a
// diagnostic at file:line:col, not a stack overflow.
func TestParseFile_Limits(t *testing.T) {
	for name, src := range map[string]string{
		"deep":      "config = [\"config.hcl\"]\ntest \"t\" {\n  x = " + strings.Repeat("(", 70000) + "1" + strings.Repeat(")", 70000) + "\n}\n",
		"long line": "config = [\"" + strings.Repeat("a", 40<<10) + "\"]\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t_test.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			f, _, diags := ParseFile(path)
			if f != nil || len(diags) != 1 || diags[0].Subject == nil || diags[0].Subject.Start.Line < 1 {
				t.Fatalf("ParseFile = %v, %v; want one diagnostic with a place", f, diags)
			}
			res := RunFile(path, Options{})
			var b bytes.Buffer
			if err := res.WriteDiagnostics(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "t_test.hcl:") || b.Len() > 4096 {
				t.Errorf("rendered as %d bytes:\n%.2000s", b.Len(), b.String())
			}
		})
	}
}
