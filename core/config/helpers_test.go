package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the golden file at path, or rewrites the file
// when -update is given.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update accepts it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// fakeEnv is an environment for the loader.
func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// loadWith loads path with the given environment.
func loadWith(path string, env map[string]string) (*Config, hcl.Diagnostics) {
	return newLoader(fakeEnv(env)).load(path)
}

// locations lists each diagnostic as "file:line:col: severity: summary".
func locations(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		loc := "(no subject)"
		if d.Subject != nil {
			loc = where(*d.Subject)
		}
		out = append(out, fmt.Sprintf("%s: %s: %s", loc, sev, d.Summary))
	}
	return out
}

// render writes diags the way the CLI would.
func render(t *testing.T, cfg *Config, diags hcl.Diagnostics) string {
	t.Helper()
	var b bytes.Buffer
	if err := cfg.WriteDiagnostics(&b, diags); err != nil {
		t.Fatalf("WriteDiagnostics: %v", err)
	}
	return b.String()
}

// sameLines reports whether two lists are equal, with a readable diff.
func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// mustAbs returns the absolute form of a path relative to the package.
func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
