package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fleet example's Alertmanager and Prometheus configs, checked by the
// tools of the versions Debian ships (prometheus-alertmanager 0.25,
// prometheus 2.42). Its agent.hcl is validated with the other shipped
// configs (TestValidate_ShippedConfigs) and formatted (TestFmt_ShippedFiles).

const fleetDir = "../../examples/fleet"

// tool returns the path of a Debian tool, or skips; under CI=true a
// missing tool is a failure (.ci/run installs them as root).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: .ci/run installs Debian's %s (as root)", name, pkg)
		}
		t.Skipf("%s is not installed (Debian's %s): not checking the fleet example with it", name, pkg)
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFleetExample_Alertmanager: amtool check-config accepts
// alertmanager.yml, with its routes and inhibit rules.
func TestFleetExample_Alertmanager(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	out := runTool(t, amtool, "check-config", filepath.Join(fleetDir, "alertmanager.yml"))
	if !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "2 inhibit rules") {
		t.Errorf("amtool check-config:\n%s", out)
	}
}

// TestFleetExample_Prometheus: promtool check config accepts
// prometheus.yml and the rule file it names. The files it refers to under
// /etc/prometheus are made in a copy's directory, as promtool checks that
// they exist.
func TestFleetExample_Prometheus(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	dir := t.TempDir()
	for _, name := range []string{"prometheus.yml", "tocsin.rules.yml"} {
		b, err := os.ReadFile(filepath.Join(fleetDir, name))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/etc/prometheus/", dir+"/"))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"tocsin.token", "tocsin-fleet-ca.crt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := runTool(t, promtool, "check", "config", filepath.Join(dir, "prometheus.yml"))
	if !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Errorf("promtool check config:\n%s", out)
	}
}

// TestFleetExample_Routes: alertmanager.yml routes Tocsin's alerts by the
// labels the agent sets (amtool config routes test): a primary's critical
// alert pages, a backup's goes to the day shift, heartbeats and other
// info alerts to nobody, Prometheus' alerts on the agents to the fleet's
// operators.
func TestFleetExample_Routes(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	tests := []struct {
		labels []string
		want   string
	}{
		{labels: []string{"alertname=sync_stale", "node=fw-a", "role=primary", "severity=critical", "team=storage"}, want: "pager"},
		{labels: []string{"alertname=sync_stale", "node=fw-b", "role=backup", "severity=critical"}, want: "fleet-ops"},
		{labels: []string{"alertname=version_mismatch", "node=fw-a", "role=primary", "severity=warning"}, want: "fleet-ops"},
		{labels: []string{"alertname=daily_heartbeat", "node=fw-a", "role=primary", "severity=info"}, want: "null"},
		{labels: []string{"alertname=TocsinAgentDown", "job=tocsin", "pair=site-a", "role=primary", "severity=critical"}, want: "fleet-ops"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.labels, ","), func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + filepath.Join(fleetDir, "alertmanager.yml")}, tt.labels...)
			// The receivers on stdout; a warning about the flag on stderr.
			out, err := exec.CommandContext(t.Context(), amtool, args...).Output()
			if err != nil {
				t.Fatalf("amtool %s: %v", strings.Join(args, " "), err)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("routed to %q; want %q", got, tt.want)
			}
		})
	}
}
