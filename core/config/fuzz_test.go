package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// FuzzLoad loads arbitrary files: Load, DecodeSettings, PluginDiagnostics
// and WriteDiagnostics must never panic.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*.hcl", "testdata/*/*.hcl"} {
		seeds, err := filepath.Glob(pattern)
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
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(path)
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}
		for _, d := range diags {
			if d.Subject == nil {
				t.Errorf("diagnostic without a subject: %s: %s", d.Summary, d.Detail)
			}
		}
		for _, tr := range cfg.Transports {
			diags = append(diags, tr.DecodeSettings(fakeSchema)...)
			diags = append(diags, tr.PluginDiagnostics("", sdk.Diagnostics{
				{Severity: sdk.SeverityError, Attribute: "host", Summary: "x"},
				{Severity: sdk.SeverityWarning, Summary: "y"},
			})...)
		}
		if err := cfg.WriteDiagnostics(io.Discard, diags); err != nil {
			t.Fatal(err)
		}
		if err := WriteDiagnostics(io.Discard, cfg.Sources, diags); err != nil {
			t.Fatal(err)
		}
	})
}
