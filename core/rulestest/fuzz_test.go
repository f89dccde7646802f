package rulestest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRunFile runs arbitrary test files against testdata/config.hcl:
// RunFile and the report must never panic, and every diagnostic must
// have a subject.
func FuzzRunFile(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*_test.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	config, err := os.ReadFile("testdata/config.hcl")
	if err != nil {
		f.Fatal(err)
	}
	// Long timelines are correct but slow; keep each run short.
	maxEvaluations = 20_000
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.hcl"), config, 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "t_test.hcl")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		res := RunFile(path, Options{})
		for _, d := range res.Diagnostics {
			if d.Subject == nil {
				t.Errorf("diagnostic without a subject: %s: %s", d.Summary, d.Detail)
			}
		}
		if err := res.WriteDiagnostics(io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := res.WriteReport(io.Discard, true); err != nil {
			t.Fatal(err)
		}
	})
}
