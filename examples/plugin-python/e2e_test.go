package pluginpython_test

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestAgent_DeliversThroughPython: the real tocsin binary runs a rule
// whose notification goes to a contact via a transport served by the
// Python plugin (named by path, pinned by its SHA-256 as an operator
// would), and the mail lands in the plugin's directory as an .eml file.
func TestAgent_DeliversThroughPython(t *testing.T) {
	plugin := pluginPath(t)
	tocsin := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent", "tocsin")
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()

	config := filepath.Join(dir, "agent.hcl")
	hcl := fmt.Sprintf(`agent {
  node      = "node-a"
  data_dir  = "data"
  listen    = %q
  log_level = "debug"
}

transport "py" {
  plugin = "pydrop"
  path   = %q
  sha256 = %q
  from   = "Tocsin <tocsin@example.com>"
  config {
    dir     = %q
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.py]
}

rule "python-e2e" {
  schedule = "@every 1s"
  when     = true
  notify   = [contact.ops]
  subject  = "python plugin end to end"
}
`, listen, plugin, sha256File(t, plugin), drop)
	if err := os.WriteFile(config, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(dir, "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tocsin, "run", "-config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, raw := range readDrops(drop) {
			if strings.Contains(string(raw), "python plugin end to end") {
				if !strings.Contains(string(raw), "To: ops@example.com") {
					t.Errorf("the delivered mail is not addressed to the contact:\n%s", raw)
				}
				checkAgentLog(t, logPath)
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("no notification in %s after 60s; the agent's log:\n%s", drop, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// checkAgentLog: the plugin's JSON log lines reach the agent's log as
// structured lines, and go-plugin had nothing to warn about (a missing
// stdio service, a plugin that did not exit when asked).
func checkAgentLog(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "pydrop configured") {
		t.Errorf("the plugin's log line \"pydrop configured\" is not in the agent's log:\n%s", log)
	}
	for _, bad := range []string{"stdio service not available", "failed to exit gracefully", "@timestamp"} {
		if strings.Contains(log, bad) {
			t.Errorf("the agent's log holds %q:\n%s", bad, log)
		}
	}
}
