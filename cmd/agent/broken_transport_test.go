package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// withMisbehave adds the misbehave test plugin (testdata/plugins/misbehave)
// to the test plugin directory.
func withMisbehave(t *testing.T) {
	t.Helper()
	dir := withPlugins(t)
	bin := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent/testdata/plugins/misbehave", "tocsin-plugin-misbehave")
	if err := os.Symlink(bin, filepath.Join(dir, "tocsin-plugin-misbehave")); err != nil {
		t.Fatal(err)
	}
}

// brokenConfig writes a config with transport good (smtp-basic to good)
// and transport broken (misbehave to bad, with marker settings extra), on
// contacts good and bad; rule alert notifies both once, and rule channel
// tells contact good, through the outbox fact, that broken is failing.
func brokenConfig(t *testing.T, listen string, good, bad *testserver.Server, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
  listen     = %q
  log_level  = "debug"
}
transport "good" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host     = %q
    port     = %d
    security = "none"
  }
}
transport "broken" {
  plugin = "misbehave"
  from   = "tocsin@example.com"
  config {
    host     = %q
    port     = %d
    security = "none"
    %s
  }
}
contact "good" {
  email = ["good@example.com"]
  via   = [transport.good]
}
contact "bad" {
  email = ["bad@example.com"]
  via   = [transport.broken]
}
rule "alert" {
  schedule = "@every 1s"
  when     = true
  notify   = [contact.good, contact.bad]
  subject  = "alert"
}
rule "channel" {
  schedule = "@every 1s"
  when     = contains(keys(outbox.failing), "broken")
  notify   = [contact.good]
  subject  = "channel: broken is failing"
}
delivery {
  retry_initial = "200ms"
  retry_max     = "1s"
}
`, listen, good.Host(), good.Port(), bad.Host(), bad.Port(), extra)
	path := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// health reads /healthz: its HTTP status and its status field.
func (p *agentProc) health() (int, string, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.listen + "/healthz")
	if err != nil {
		return 0, "", false
	}
	defer resp.Body.Close()
	var h struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return resp.StatusCode, "", false
	}
	return resp.StatusCode, h.Status, true
}

// subjects are the decoded subjects of what srv received.
func subjects(t *testing.T, srv *testserver.Server) []string {
	var out []string
	for _, m := range srv.Messages() {
		out = append(out, subjectOf(t, m))
	}
	return out
}

// TestRun_BrokenTransport is finding 14 (and 13) of issue 11: with one
// good and one broken transport on different contacts, `run` comes up
// with the good one (it exited 1), says that the broken one failed and
// why (log, /healthz, /v1/status, /metrics, the outbox fact), keeps the
// broken transport's mail waiting, keeps trying to start it, and sends
// through it once it starts.
func TestRun_BrokenTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withMisbehave(t)
	for _, tc := range []struct {
		name   string
		marker string // the setting or variable naming the marker file
		want   string // in the broken transport's error
	}{
		{"exits", "env", "misbehave: exiting at once"},
		{"refuses", "refuse_while", "Refused on purpose"},
		{"hangs", "hang_while", "did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "hangs" {
				t.Parallel() // waits for the 30 s start deadline
			}
			marker := filepath.Join(t.TempDir(), "broken")
			if err := os.WriteFile(marker, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			extra := ""
			if tc.marker == "env" {
				t.Setenv("TOCSIN_TEST_EXIT_WHILE", marker)
			} else {
				extra = fmt.Sprintf("%s = %q", tc.marker, marker)
			}
			good, bad := testserver.StartT(t, testserver.Options{}), testserver.StartT(t, testserver.Options{})
			listen := freePort(t)
			tocsinBinary(t) // built before the clock starts
			began := time.Now()
			p := startAgent(t, brokenConfig(t, listen, good, bad, extra), listen)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()

			if _, err := good.Wait(ctx, 1); err != nil {
				t.Fatalf("nothing through the good transport: %v\n%s", err, p.logText())
			}
			t.Logf("the good transport delivered %v after the start", time.Since(began).Round(time.Millisecond))
			if code, status, ok := p.health(); !ok || code != http.StatusOK || status != "degraded" {
				t.Errorf("/healthz = %d %q (answered: %v), want 200 degraded", code, status, ok)
			}
			d, ok := p.delivery()
			if !ok {
				t.Fatal("no /v1/status")
			}
			if b := d.Transports["broken"]; b.State != agent.TransportFailed || !strings.Contains(b.Error, tc.want) || b.Remedy == "" {
				t.Errorf("/v1/status transport broken = %+v, want failed with %q and a remedy", b, tc.want)
			}
			if g := d.Transports["good"]; g.State != agent.TransportUp {
				t.Errorf("/v1/status transport good = %+v, want up", g)
			}
			if d.Pending < 1 || d.Dead != 0 {
				t.Errorf("outbox: %d pending, %d dead; the broken transport's mail must wait", d.Pending, d.Dead)
			}
			if up := p.metric(t, `tocsin_transport_up{transport="broken"}`); up != 0 {
				t.Errorf("tocsin_transport_up{broken} = %v", up)
			}
			if up := p.metric(t, `tocsin_transport_up{transport="good"}`); up != 1 {
				t.Errorf("tocsin_transport_up{good} = %v", up)
			}
			if log := p.logText(); !strings.Contains(log, "transport failed to start") || !strings.Contains(log, `remedy="Fix what the error says`) {
				t.Errorf("no failed start with a remedy in the log:\n%s", log)
			}
			await(t, 30*time.Second, "the outbox fact's alert through the good transport", func() bool {
				return strings.Contains(strings.Join(subjects(t, good), "\n"), "channel: broken is failing")
			})

			// The plugin works again: the agent starts it, and the
			// waiting mail goes out.
			if err := os.Remove(marker); err != nil {
				t.Fatal(err)
			}
			fixed := time.Now()
			got, err := bad.Wait(ctx, 1)
			t.Logf("the plugin behaved %v after the start; its waiting mail went out %v later", fixed.Sub(began).Round(time.Millisecond), time.Since(fixed).Round(time.Millisecond))
			if err != nil {
				t.Fatalf("the waiting mail never went through the broken transport once it worked: %v\n%s", err, p.logText())
			}
			if s := subjectOf(t, got[0]); s != "alert" {
				t.Errorf("through broken: %q", s)
			}
			await(t, 10*time.Second, "the broken transport up", func() bool {
				d, ok := p.delivery()
				return ok && d.Transports["broken"].State == agent.TransportUp
			})
			if code, status, _ := p.health(); code != http.StatusOK || status != "ok" {
				t.Errorf("/healthz after the recovery = %d %q", code, status)
			}
			if up := p.metric(t, `tocsin_transport_up{transport="broken"}`); up != 1 {
				t.Errorf("tocsin_transport_up{broken} after the recovery = %v", up)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Wait(); err != nil {
				t.Errorf("exit after SIGTERM: %v\n%s", err, p.logText())
			}
		})
	}
}

// TestValidate_BrokenTransportFails: validate and test-send still fail
// loudly for a broken transport.
func TestValidate_BrokenTransportFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withMisbehave(t)
	marker := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOCSIN_TEST_EXIT_WHILE", marker)
	good, bad := testserver.StartT(t, testserver.Options{}), testserver.StartT(t, testserver.Options{})
	path := brokenConfig(t, freePort(t), good, bad, "")
	if r := runCLI(t, "validate", "-config", path); r.code == exitOK || !strings.Contains(r.stderr, "broken") {
		t.Errorf("validate: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, "test-send", "-config", path, "-transport", "broken", "-to", "x@example.com"); r.code == exitOK || !strings.Contains(r.stderr, "misbehave") {
		t.Errorf("test-send: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRun_BrokenTransportFallsBack: the notifications of a transport
// that does not start are not lost: after max_age they go to the next
// transport of the contact's via list, as any failing transport's do.
func TestRun_BrokenTransportFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withMisbehave(t)
	marker := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good, bad := testserver.StartT(t, testserver.Options{}), testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path := brokenConfig(t, listen, good, bad, fmt.Sprintf("refuse_while = %q", marker))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "via   = [transport.broken]", "via   = [transport.broken, transport.good]", 1)
	cfg = strings.Replace(cfg, `retry_max     = "1s"`, "retry_max     = \"1s\"\n  max_age       = \"2s\"", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "the broken transport's mail through the next one of via", func() bool {
		for _, m := range good.Messages() {
			if subjectOf(t, m) == "alert" && len(m.To) == 1 && m.To[0] == "bad@example.com" {
				return true
			}
		}
		return false
	})
	if n := len(bad.Messages()); n != 0 {
		t.Errorf("the broken transport's server got %d messages", n)
	}
	if d, ok := p.delivery(); !ok || d.FellBack < 1 || d.Dead != 0 {
		t.Errorf("delivery status %+v", d)
	}
}
