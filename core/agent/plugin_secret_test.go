package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// leakyPassword is what the leaky plugin's password setting is read from
// the environment as: it is nowhere in the configuration's source.
const leakyPassword = "PLANTED-leaky-password"

// leakyConfig is an agent with a fake transport "good" and, when leaky is
// set, a transport of the leaky test plugin, whose Configure fails with
// an error that quotes its sensitive password.
const leakyConfig = `
agent {
  node       = "node-1"
  data_dir   = "data"
  listen     = "127.0.0.1:0"
  plugin_dir = "%PLUGINS%"
}
transport "good" {
  plugin = "smtp-basic"
  from   = "good@example.com"
}
%LEAKY%
contact "ops" {
  email = ["a@example.com"]
  via   = [transport.good]
}
`

const leakyTransport = `transport "leaky" {
  plugin = "leaky"
  from   = "leaky@example.com"
  config {
    password = env("LEAKY_PASSWORD")
  }
}`

// loadLeaky writes leakyConfig to path, with the leaky transport or
// without, and loads it.
func loadLeaky(t *testing.T, path, plugins string, leaky bool) *config.Config {
	t.Helper()
	src := strings.ReplaceAll(leakyConfig, "%PLUGINS%", plugins)
	src = strings.ReplaceAll(src, "%LEAKY%", map[bool]string{true: leakyTransport}[leaky])
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	return cfg
}

// TestAgent_PluginErrorQuotingSecretIsScrubbed: a plugin's error text goes
// into the diagnostics of a start and a reload; when it quotes a
// sensitive setting's decoded value, the diagnostics as the agent renders
// them (cfg.WriteDiagnostics, as `tocsin run` logs them) print
// "(sensitive)" in its place.
func TestAgent_PluginErrorQuotingSecretIsScrubbed(t *testing.T) {
	plugins := sdktest.PluginDir(t, map[string]string{"leaky": "github.com/tocsin-dev/tocsin/core/agent/testdata/leaky"})
	t.Setenv("LEAKY_PASSWORD", leakyPassword)

	// newLeakyAgent starts an agent on cfg: "good" is a fake, the leaky
	// plugin starts as the agent starts plugins.
	newLeakyAgent := func(t *testing.T, cfg *config.Config) (*Agent, hcl.Diagnostics) {
		t.Helper()
		fs, ft := newFakeStarter(), newFakeTimers()
		a := &Agent{cfg: cfg, logger: hclog.NewNullLogger(), now: func() time.Time { return testNow }, afterFunc: ft.after}
		a.starter = func(ctx context.Context, cfg *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics) {
			if tc.Plugin == "leaky" {
				return a.startPlugin(ctx, cfg, tc)
			}
			return fs.start(ctx, cfg, tc)
		}
		a, diags := start(context.Background(), a)
		if a == nil {
			t.Fatalf("the agent did not start: %s", diags.Error())
		}
		t.Cleanup(func() {
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		return a, diags
	}

	tests := []struct {
		name string
		// failed: the agent runs with the leaky transport failed (a
		// start); a reload that adds it is refused instead.
		failed bool
		run    func(t *testing.T, path string) (*Agent, *config.Config, hcl.Diagnostics)
	}{
		{
			name: "start", failed: true,
			run: func(t *testing.T, path string) (*Agent, *config.Config, hcl.Diagnostics) {
				cfg := loadLeaky(t, path, plugins, true)
				a, diags := newLeakyAgent(t, cfg)
				return a, cfg, diags
			},
		},
		{
			name: "reload",
			run: func(t *testing.T, path string) (*Agent, *config.Config, hcl.Diagnostics) {
				a, diags := newLeakyAgent(t, loadLeaky(t, path, plugins, false))
				if len(diags) > 0 {
					t.Fatalf("start: %s", diags.Error())
				}
				cfg := loadLeaky(t, path, plugins, true)
				return a, cfg, a.Reload(context.Background(), cfg)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, cfg, diags := tt.run(t, filepath.Join(t.TempDir(), "agent.hcl"))
			var b strings.Builder
			if err := cfg.WriteDiagnostics(&b, diags); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			// The plugin's error came through, the secret scrubbed from
			// it where the agent made it a diagnostic: whatever reads the
			// diagnostics (the log, /v1/status, the outbox fact that
			// rules can quote in a mail) never sees the secret.
			const want = `the server rejected the password "(sensitive)"`
			if !strings.Contains(out, want) {
				t.Errorf("the rendered diagnostics lack %q:\n%s", want, out)
			}
			if strings.Contains(out, "PLANTED") {
				t.Errorf("the rendered diagnostics print the password:\n%s", out)
			}
			if strings.Contains(diags.Error(), "PLANTED") {
				t.Errorf("a diagnostic carries the password: %s", diags.Error())
			}
			td := a.deliveryStatus().Transports["leaky"]
			if tt.failed && (td.State != TransportFailed || !strings.Contains(td.Error, want) || strings.Contains(td.Error+td.Remedy, "PLANTED")) {
				t.Errorf("/v1/status of the leaky transport: %+v", td)
			}
		})
	}
}
