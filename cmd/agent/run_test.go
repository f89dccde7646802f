package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// These tests run the real tocsin binary as a separate process.

func tocsinBinary(t testing.TB) string {
	t.Helper()
	return sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent", "tocsin")
}

// binDir returns a directory with tocsin and plugins/ beside it, the layout
// `make build` produces, so the default plugin_dir finds the plugins.
func binDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(withPlugins(t), filepath.Join(dir, "plugins")); err != nil {
		t.Fatal(err)
	}
	// A copy, not a link: os.Executable resolves links, and the default
	// plugin_dir is found next to the resolved file.
	b, err := os.ReadFile(tocsinBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tocsin"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lineWaiter scans a process's output for lines.
type lineWaiter struct {
	lines chan string
	all   *strings.Builder
}

func watch(t testing.TB, r io.Reader) *lineWaiter {
	w := &lineWaiter{lines: make(chan string, 1024), all: &strings.Builder{}}
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			w.lines <- s.Text()
		}
		close(w.lines)
	}()
	return w
}

// waitFor reads lines until one contains want, or fails after d.
func (w *lineWaiter) waitFor(t testing.TB, want string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("output ended before %q:\n%s", want, w.all)
			}
			w.all.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return
			}
		case <-timer.C:
			t.Fatalf("no %q within %v:\n%s", want, d, w.all)
		}
	}
}

// TestRun_Healthz starts `tocsin run`, checks /healthz and a clean stop on
// SIGTERM.
func TestRun_Healthz(t *testing.T) {
	withPlugins(t)
	listen := freePort(t)
	srv := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	cfg := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
  listen     = %q
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host     = %q
    port     = %d
    security = "none"
  }
}
`, listen, srv.Host(), srv.Port())
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tocsinBinary(t), "run", "-config", path)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	w := watch(t, stderr)
	w.waitFor(t, "agent started", 30*time.Second)

	// Without a credential, liveness only.
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("healthz without a credential = %d %s", resp.StatusCode, b)
	}
	resp.Body.Close()
	resp, err = authGet(http.DefaultClient, filepath.Join(dir, "data"), "http://"+listen+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status, Node string
		Transports   []string
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || h.Status != "ok" || h.Node != "node-a" || len(h.Transports) != 1 {
		t.Errorf("healthz = %d %+v (%v)", resp.StatusCode, h, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "agent stopped", 30*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

func TestRun_BadConfigExits1(t *testing.T) {
	withPlugins(t)
	r := runCLI(t, "run", "-config", "testdata/validate/bad_port.hcl")
	if r.code != exitError || !strings.Contains(r.stderr, "bad_port.hcl:12:12") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

// TestRunDev is what `make dev` does on a fresh clone: the startup mail
// must reach the dev sink through the outbox and the real plugin process,
// be printed and saved, the agent must run in the secure shape
// (checkDevSecure), and Ctrl-C must stop everything.
func TestRunDev(t *testing.T) {
	bin := binDir(t)
	devDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "tocsin"), "run", "-dev", "-dev-dir", devDir)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := watch(t, stdout)
	w.waitFor(t, "dev sink: mail received", 60*time.Second)
	w.waitFor(t, "Subject: [tocsin] dev-backup: agent started", 5*time.Second)
	w.waitFor(t, "Saved:", 5*time.Second)
	t.Logf("startup mail printed %v after start", time.Since(start).Round(time.Millisecond))
	// It went through the outbox, as every alert does: the dispatcher
	// logs its delivery.
	if !strings.Contains(w.all.String(), "rule=dev_startup") {
		w.waitFor(t, "rule=dev_startup", 5*time.Second)
	}

	emls, _ := filepath.Glob(filepath.Join(devDir, "mail", "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("saved mails = %v", emls)
	}
	b, _ := os.ReadFile(emls[0])
	if !strings.Contains(string(b), "Message-ID: <") || !strings.Contains(string(b), "multipart/alternative") {
		t.Errorf("saved mail lacks headers or the HTML part:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(devDir, "agent.hcl")); err != nil {
		t.Errorf("dev config not written: %v", err)
	}
	checkDevSecure(t, devDir, w.all.String())

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "agent stopped", 30*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after Ctrl-C: %v", err)
	}
}

// TestRunDev_HAPair is what a newcomer sees in the first minutes of
// `make dev`: the simulated primary stops answering after 30 s, and the
// dev sink prints primary_unchecked_auto, then takeover, with the real
// timings (about two and three minutes after the start).
func TestRunDev_HAPair(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about three minutes")
	}
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "tocsin"), "run", "-dev", "-dev-dir", t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w := watch(t, stdout)
	w.waitFor(t, "scripted fault: the simulated primary stops answering", 2*time.Minute)
	w.waitFor(t, "Subject: dev-backup: the backup cannot check the primary", 3*time.Minute)
	t.Logf("primary_unchecked_auto after %v", time.Since(start).Round(time.Second))
	w.waitFor(t, "Subject: dev-backup: the backup takes over", 3*time.Minute)
	t.Logf("takeover after %v", time.Since(start).Round(time.Second))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "agent stopped", 30*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after Ctrl-C: %v", err)
	}
}
