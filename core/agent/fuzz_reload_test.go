package agent

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
)

// reloadSchemas are the settings schemas of the bundled plugins, taken
// from their packages in process: the fuzzer needs no plugin binary.
func reloadSchemas(f *testing.F) map[string]sdk.Schema {
	schemas := map[string]sdk.Schema{}
	for name, p := range map[string]interface {
		Describe(context.Context) (*sdk.Description, error)
	}{
		"smtp-basic":        basic.New("fuzz"),
		"smtp-oauth-ms":     msoauth.New("fuzz"),
		"smtp-oauth-google": googleoauth.New("fuzz"),
	} {
		d, err := p.Describe(context.Background())
		if err != nil {
			f.Fatal(err)
		}
		schemas[name] = d.Schema
	}
	return schemas
}

// FuzzReload feeds arbitrary configuration files through what a SIGHUP
// does before it touches the running agent: config.Load, the transports'
// settings against their plugins' schemas (and a plugin's diagnostics),
// the new engine (checks, rule state, scheduler) with one evaluation of
// each rule, and the rendering of every diagnostic, as run.go logs it.
// None of it may panic or overflow the stack: the running agent would die
// with it (issue 11, findings 1 and 2).
func FuzzReload(f *testing.F) {
	for _, pattern := range []string{
		"../../agent.hcl.example", "../../examples/*.hcl", "../../rules/*.hcl",
		"../../cmd/agent/testdata/*/*.hcl", "../config/testdata/*.hcl", "../config/testdata/*/*.hcl",
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	// The reproductions of issue 11 are in testdata/fuzz/FuzzReload.
	schemas := reloadSchemas(f)
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent.hcl")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(path)
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}
		for _, tr := range cfg.Transports {
			schema, ok := schemas[tr.Plugin]
			if !ok {
				schema = schemas["smtp-basic"]
			}
			diags = append(diags, tr.DecodeSettings(schema)...)
			diags = append(diags, tr.PluginDiagnostics(tr.Plugin, sdk.Diagnostics{
				{Severity: sdk.SeverityError, Attribute: "host", Summary: "x", Detail: "y"},
				{Severity: sdk.SeverityWarning, Attribute: "password", Summary: "z"},
			})...)
		}
		if !diags.HasErrors() {
			cfg.Agent.DataDir = filepath.Join(dir, "data") // never where the input says
			eng, err := engine.New(cfg, hclog.NewNullLogger(), nopEnqueuer{}, engine.Options{Now: func() time.Time { return start }})
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				for _, r := range cfg.Rules {
					eng.Evaluate(ctx, r)
				}
				cancel()
				_ = eng.Close(context.Background()) // never started: closes the rule state
			}
		}
		if err := cfg.WriteDiagnostics(io.Discard, diags); err != nil {
			t.Fatal(err)
		}
	})
}
