package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// FuzzLoad loads arbitrary files: Load, DecodeSettings, PluginDiagnostics
// and WriteDiagnostics must never panic nor overflow the stack, every
// diagnostic has a place, and a rendering stays small. It is seeded with
// every shipped HCL file and the reproductions of issue 11; the crashers
// it found live in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	for _, name := range shippedHCL(f) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The reproductions of issue 11 are in testdata/fuzz/FuzzLoad.
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := loadWith(path, map[string]string{"HOME": "/root"})
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
		var out countingWriter
		if err := cfg.WriteDiagnostics(&out, diags); err != nil {
			t.Fatal(err)
		}
		// Each shown diagnostic is a few lines of bounded width; the
		// rest are counted, not shown.
		if limit := 4096 + 1024*len(diags); out.n > limit {
			t.Errorf("%d diagnostics rendered as %d bytes", len(diags), out.n)
		}
		if err := WriteDiagnostics(io.Discard, cfg.Sources, diags); err != nil {
			t.Fatal(err)
		}
	})
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
