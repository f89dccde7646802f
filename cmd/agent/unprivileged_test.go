package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
)

// TestOutbox_UnprivilegedUser (issue 14): a local user who is not the
// agent's cannot read, retry or drop a notification, neither with the
// tocsin command nor by calling the API without a credential. It runs
// the built tocsin as nobody (uid 65534) against a running agent whose
// data_dir is root's, 0700; make test gives TOCSIN_BIN_DIR.
func TestOutbox_UnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tocsin as another user; TestOutbox_notTheAgentsUser covers a run as that user")
	}
	bin := os.Getenv("TOCSIN_BIN_DIR")
	if bin == "" {
		t.Skip("TOCSIN_BIN_DIR (set by make test) names the built tocsin")
	}
	base, err := os.MkdirTemp("", "tocsin-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // nobody may read the config, not the data
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	cfgPath := filepath.Join(base, "agent.hcl")
	src := fmt.Sprintf("agent {\n  node     = \"node-a\"\n  data_dir = %q\n  listen   = %q\n}\n", data, listen)
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	seedOutboxFile(t, agent.OutboxPath(data))
	cfg, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	a, diags := agent.Start(context.Background(), cfg, hclog.NewNullLogger())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})

	asNobody := func(args ...string) (int, string) {
		cmd := exec.Command(filepath.Join(bin, "tocsin"), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = base
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String()
	}
	for _, args := range [][]string{
		{"outbox", "list", "-config", cfgPath},
		{"outbox", "show", pendingID, "-config", cfgPath},
		{"outbox", "retry", pendingID, "-config", cfgPath},
		{"outbox", "drop", pendingID, "-config", cfgPath},
	} {
		code, out := asNobody(args...)
		if code == 0 || strings.Contains(out, "PLANTED") || strings.Contains(out, "ops@example.com") {
			t.Errorf("tocsin %s as nobody: exit %d:\n%s", strings.Join(args[:2], " "), code, out)
		}
		if !strings.Contains(out, "run tocsin as the agent's user or root") {
			t.Errorf("tocsin %s as nobody does not say what to do:\n%s", strings.Join(args[:2], " "), out)
		}
	}
	// The API without a credential, from this host.
	for _, m := range []struct{ method, path string }{
		{http.MethodGet, "/v1/outbox"},
		{http.MethodGet, "/v1/outbox/" + pendingID},
		{http.MethodPost, "/v1/outbox/" + pendingID + "/retry"},
		{http.MethodDelete, "/v1/outbox/" + pendingID},
	} {
		req, _ := http.NewRequest(m.method, "http://"+listen+m.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a credential: %s", m.method, m.path, resp.Status)
		}
	}
	// The entry is still there for the agent's user.
	wantOutput(t, runCLI(t, "outbox", "show", pendingID, "-config", cfgPath), exitOK, []string{pendingID}, nil)
}
