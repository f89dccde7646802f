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
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
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

// newLeakyAgent starts an agent on cfg: "good" is a fake, the leaky
// plugin starts as the agent starts plugins.
func newLeakyAgent(t *testing.T, cfg *config.Config) (*Agent, hcl.Diagnostics) {
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

// TestAgent_PluginErrorQuotingSecretIsScrubbed: a plugin's error text goes
// into the diagnostics of a start and a reload; when it quotes a
// sensitive setting's decoded value, the diagnostics as the agent renders
// them (cfg.WriteDiagnostics, as `tocsin run` logs them) print
// "(sensitive)" in its place.
func TestAgent_PluginErrorQuotingSecretIsScrubbed(t *testing.T) {
	plugins := sdktest.PluginDir(t, map[string]string{"leaky": "github.com/tocsin-dev/tocsin/core/agent/testdata/leaky"})
	t.Setenv("LEAKY_PASSWORD", leakyPassword)

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

// leakyLogin is the login stored for the leaky transport, as tocsin oauth
// login stores a refresh token.
const leakyLogin = "PLANTED-stored-login"

// TestAgent_PluginSendErrorsAreScrubbed: a plugin whose Send and Check
// errors quote its password and its stored login in every field (the
// error, the code, the reply, the remedy, a receipt) reaches the
// dispatcher, which writes them into the outbox, /v1/status, the outbox
// fact and the log, and tocsin test-send and oauth login, which print
// them, with both replaced by "(sensitive)", and with the kind and
// Retry-After the plugin gave.
func TestAgent_PluginSendErrorsAreScrubbed(t *testing.T) {
	plugins := sdktest.PluginDir(t, map[string]string{"leaky": "github.com/tocsin-dev/tocsin/core/agent/testdata/leaky"})
	t.Setenv("LEAKY_PASSWORD", leakyPassword)
	path := filepath.Join(t.TempDir(), "agent.hcl")
	src := strings.ReplaceAll(leakyConfig, "%PLUGINS%", plugins)
	src = strings.ReplaceAll(src, "%LEAKY%", strings.Replace(leakyTransport, "password =", "configure = \"ok\"\n    password =", 1))
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	if err := NewTokenStore(cfg.Agent).Put(tokenstore.Entry{Transport: "leaky", RefreshToken: leakyLogin, ObtainedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	a, diags := newLeakyAgent(t, cfg)
	if diags.HasErrors() {
		t.Fatalf("start: %s", diags.Error())
	}

	clean := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "PLANTED") {
			t.Errorf("%s carries a secret: %s", what, s)
		}
		if !strings.Contains(s, "(sensitive)") {
			t.Errorf("%s lacks the scrubbed secret: %q", what, s)
		}
	}
	res, err := dispatchTransports{a}.Send(context.Background(), "leaky", []*sdk.Message{{ID: "m1"}, {ID: "m2"}})
	if err != nil || len(res) != 2 {
		t.Fatalf("send = %v, %v", res, err)
	}
	for _, r := range res {
		de := sdk.AsDeliveryError(r.Err)
		if de == nil || !de.Temporary() || de.RetryAfter != time.Minute {
			t.Errorf("result %s: %#v, want the temporary error with the Retry-After the plugin gave", r.MessageID, r.Err)
			continue
		}
		clean("the error", de.Error())
		clean("the code", de.Code)
		clean("the reply", de.Reply)
		clean("the remedy", de.Remedy)
		clean("the receipt", r.Receipt)
	}

	lt := a.current().transports["leaky"]
	tr, release, err := lt.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	err = tr.Check(context.Background())
	if de := sdk.AsDeliveryError(err); de == nil || de.Temporary() || de.Code != "535 5.7.8" {
		t.Fatalf("check = %#v, want the permanent error the plugin gave", err)
	}
	clean("the check's error", err.Error())
	clean("the check's remedy", sdk.AsDeliveryError(err).Remedy)
}
