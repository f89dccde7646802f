//go:build unix

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifySocket is systemd's end of sd_notify: a unixgram socket that
// records every datagram the agent sends.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &notifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	return s
}

// has reports whether msg carries the line want ("READY=1").
func has(msg, want string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if l == want {
			return true
		}
	}
	return false
}

// await waits up to d for a message from index from on that carries the
// line want, and returns its index.
func (s *notifySocket) await(t *testing.T, from int, want string, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		for i := from; i < len(s.msgs); i++ {
			if has(s.msgs[i], want) {
				s.mu.Unlock()
				return i
			}
		}
		all := strings.Join(s.msgs, " | ")
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s from message %d on within %v; got: %q", want, from, d, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *notifySocket) msg(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[i]
}

// count returns how many messages from index from on carry want.
func (s *notifySocket) count(from int, want string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs[min(from, len(s.msgs)):] {
		if has(m, want) {
			n++
		}
	}
	return n
}

// startNotified starts the built tocsin with the environment systemd
// gives a Type=notify service: NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID (wdPID "self" is the agent's own pid, set by a shell that
// then execs the agent), and JOURNAL_STREAM naming its log file.
func startNotified(t *testing.T, sock *notifySocket, cfgPath, watchdogUSec, wdPID string) (*exec.Cmd, string) {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "agent-*.log")
	if err != nil {
		t.Fatal(err)
	}
	script := `WATCHDOG_PID=` + wdPID + ` exec "$0" "$@"`
	if wdPID == "self" {
		script = `WATCHDOG_PID=$$ exec "$0" "$@"`
	}
	cmd := exec.Command("/bin/sh", "-c", script, tocsinBinary(t), "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC="+watchdogUSec, "JOURNAL_STREAM="+journalStreamOf(t, logf))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = logf.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, logf.Name()
}

// minimalConfig writes an agent config with no transport, listening on
// listen, and returns its path.
func minimalConfig(t *testing.T, listen string) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.hcl")
	src := fmt.Sprintf("agent {\n  node     = \"node-a\"\n  data_dir = %q\n  listen   = %q\n}\n", data, listen)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun_SdNotify (issue 17): under systemd's Type=notify protocol the
// real agent says READY=1 once it serves, sends WATCHDOG=1 keep-alives at
// half WATCHDOG_USEC, RELOADING=1 (with MONOTONIC_USEC) then READY=1
// around a SIGHUP, and STOPPING=1 on SIGTERM; its /metrics has
// tocsin_build_info, and its log, on the journal,
// has no timestamps of its own.
func TestRun_SdNotify(t *testing.T) {
	sock := listenNotify(t)
	listen := freePort(t)
	cfgPath := minimalConfig(t, listen)
	cmd, logPath := startNotified(t, sock, cfgPath, "400000", "self") // 0.4 s: a keep-alive every 0.2 s

	ready := sock.await(t, 0, "READY=1", 30*time.Second)
	// The listener is up when READY=1 is sent.
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatalf("READY=1 sent but /healthz does not answer: %v", err)
	}
	_ = resp.Body.Close()
	if !has(sock.msg(ready), "STATUS=Running.") {
		t.Errorf("READY message %q without its STATUS", sock.msg(ready))
	}
	if n := sock.count(0, "RELOADING=1") + sock.count(0, "STOPPING=1"); n != 0 {
		t.Errorf("%d RELOADING/STOPPING before any signal", n)
	}
	// The service's /metrics says which build runs.
	resp, err = authGet(&http.Client{Timeout: 5 * time.Second}, dataDirOf(t, cfgPath), "http://"+listen+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	info := regexp.MustCompile(`(?m)^tocsin_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",version="[^"]+"\} 1$`)
	if !info.Match(body) {
		t.Errorf("/metrics has no tocsin_build_info for %s:\n%s", runtime.Version(), grepLines(string(body), "build_info"))
	}

	// Keep-alives every 0.2 s (half the interval): the fifth comes a
	// second after READY=1 at the earliest, and soon after.
	readyAt := time.Now()
	i := ready
	for range 5 {
		i = sock.await(t, i+1, "WATCHDOG=1", 10*time.Second)
	}
	if took := time.Since(readyAt); took < 900*time.Millisecond {
		t.Errorf("5 WATCHDOG=1 in %v with WATCHDOG_USEC=400000, want one every 0.2 s", took)
	}

	// A reload: RELOADING=1 with the time of the request, then READY=1.
	sock.mu.Lock()
	before := len(sock.msgs)
	sock.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rl := sock.await(t, before, "RELOADING=1", 10*time.Second)
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[1-9][0-9]*$`).MatchString(sock.msg(rl)) {
		t.Errorf("RELOADING message without MONOTONIC_USEC: %q", sock.msg(rl))
	}
	again := sock.await(t, rl+1, "READY=1", 30*time.Second)
	if !has(sock.msg(again), "STATUS=Running; the configuration was reloaded.") {
		t.Errorf("READY after a good reload: %q", sock.msg(again))
	}

	// A refused reload still ends with READY=1; its STATUS says so.
	if err := os.WriteFile(cfgPath, []byte("agent {\n  node = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rl = sock.await(t, again+1, "RELOADING=1", 10*time.Second)
	again = sock.await(t, rl+1, "READY=1", 30*time.Second)
	if !strings.Contains(sock.msg(again), "STATUS=The last reload was refused") {
		t.Errorf("READY after a refused reload: %q", sock.msg(again))
	}

	// SIGTERM: STOPPING=1, then a clean exit.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sock.await(t, again+1, "STOPPING=1", 10*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent exit: %v", err)
	}

	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "tocsin: agent started") || !strings.Contains(log, "tocsin: agent stopped") {
		t.Fatalf("log lacks the start or the stop:\n%s", log)
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if stamped.MatchString(line) {
			t.Errorf("timestamped line on the journal: %q", line)
		}
	}
}

// TestRun_SdNotify_WatchdogOtherPID: WATCHDOG_USEC meant for another
// process (WATCHDOG_PID is not the agent's) starts no keep-alives; READY
// and STOPPING still go.
func TestRun_SdNotify_WatchdogOtherPID(t *testing.T) {
	sock := listenNotify(t)
	listen := freePort(t)
	cmd, _ := startNotified(t, sock, minimalConfig(t, listen), "200000", "1")
	ready := sock.await(t, 0, "READY=1", 30*time.Second)
	time.Sleep(600 * time.Millisecond) // six keep-alives, were they due
	if n := sock.count(0, "WATCHDOG=1"); n != 0 {
		t.Errorf("%d WATCHDOG=1 with WATCHDOG_PID=1", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sock.await(t, ready+1, "STOPPING=1", 10*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent exit: %v", err)
	}
}
