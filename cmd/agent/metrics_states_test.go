package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestRun_MetricsStates: the real agent's /metrics has tocsin_rule_state
// per rule (0 inactive, 1 pending, 2 firing), tocsin_check_up and
// tocsin_check_duration_seconds per check and tocsin_peer_up per peer,
// with the values of what it observes, and `promtool check metrics`
// (Debian's prometheus) passes on the whole scrape.
func TestRun_MetricsStates(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	closed := testserver.StartT(t, testserver.Options{})
	closedAddr := closed.Addr()
	closed.Close()
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	config := filepath.Join(dir, "agent.hcl")
	text := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
  listen     = %q
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host     = "127.0.0.1"
    port     = %d
    security = "none"
  }
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
check "marker" {
  file  = %q
  every = "1s"
}
check "gone" {
  tcp     = %q
  every   = "1s"
  timeout = "1s"
}
peer "partner" {
  url                 = "http://%s"
  every               = "1s"
  timeout             = "1s"
}
rule "gone_down" {
  schedule = "@every 1s"
  when     = !check.gone.ok
  severity = "critical"
  notify   = [contact.ops]
  subject  = "gone is down"
}
rule "marker_missing" {
  schedule = "@every 1s"
  when     = !check.marker.exists
  for      = "1h"
  notify   = [contact.ops]
  subject  = "marker missing"
}
`, listen, srv.Port(), marker, closedAddr, closedAddr)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, config, listen)
	ctx := t.Context()
	if _, err := srv.Wait(ctx, 1); err != nil {
		t.Fatalf("the rule did not fire: %v\n%s", err, p.logText())
	}
	await(t, 20*time.Second, "the peer read", func() bool {
		return strings.Contains(p.scrape(t), `tocsin_peer_up{peer="partner"}`)
	})
	for series, want := range map[string]float64{
		`tocsin_rule_state{rule="gone_down",severity="critical"}`:     2, // firing
		`tocsin_rule_state{rule="marker_missing",severity="warning"}`: 0, // inactive
		`tocsin_check_up{check="marker",kind="file"}`:                 1,
		`tocsin_check_up{check="gone",kind="tcp"}`:                    0,
		`tocsin_peer_up{peer="partner"}`:                              0,
	} {
		if got := p.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if d := p.metric(t, `tocsin_check_duration_seconds{check="marker",kind="file"}`); d <= 0 || d > 5 {
		t.Errorf("check_duration_seconds of marker = %v", d)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed: .ci/run installs Debian's prometheus (as root)")
		}
		t.Skip("promtool is not installed (Debian's prometheus): not checking the scrape with it")
	}
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(p.scrape(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// scrape returns the body of /metrics.
func (p *agentProc) scrape(t *testing.T) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := authGet(&c, p.dataDir, "http://"+p.listen+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
