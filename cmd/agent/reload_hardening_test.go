package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRun_SIGHUPWithBrokenConfigKeepsRunning appends to a running agent's
// configuration each input that used to crash the loader (issue 11,
// findings 1 and 2), sends SIGHUP, and checks that the reload is refused
// with the file:line:col of the mistake while the agent keeps serving
// /healthz with the old configuration, and stops cleanly afterwards.
func TestRun_SIGHUPWithBrokenConfigKeepsRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	listen := freePort(t)
	path, _ := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"relay": "127.0.0.1:1"}, via: []string{"relay"}}.write(t, listen)
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "the agent's /healthz", func() bool { return healthz(listen) == http.StatusOK })

	base := strings.Count(string(original), "\n")
	deep := strings.Repeat("(", 70000) + "1" + strings.Repeat(")", 70000)
	for i, tc := range []struct {
		name, block string
		line, col   int // of the mistake, in the appended block
	}{
		{"unset env", "check \"c\" {\n  http = env(\"NOPE_UNSET\")\n  method = \"GET\"\n}\n", 2, 10},
		{"NaN", "check \"c\" {\n  http = NaN\n  expect_status = [200]\n}\n", 2, 10},
		{"list for ping", "check \"c\" {\n  ping = [\"10.0.0.1\"]\n  count = 3\n}\n", 2, 10},
		{"string command", "check \"c\" {\n  command = \"/bin/true\"\n  json = true\n}\n", 2, 13},
		{"object for dns", "check \"c\" {\n  dns = {}\n  dns_type = \"A\"\n}\n", 2, 9},
		{"bad arithmetic", "check \"c\" {\n  interface = 1 + \"x\"\n  interface_name = \"eth0\"\n}\n", 2, 19},
		{"70,000 deep", "check \"c\" {\n  tcp = " + deep + "\n}\n", 2, 0},
	} {
		src := string(original) + tc.block
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		await(t, 30*time.Second, fmt.Sprintf("refusal %d (%s) in the log", i+1, tc.name), func() bool {
			return strings.Count(p.logText(), "reload refused") == i+1 || p.exited()
		})
		if p.exited() {
			t.Fatalf("%s: the agent died on the reload:\n%s", tc.name, tail(p.logText(), 4000))
		}
		where := fmt.Sprintf("agent.hcl:%d:", base+tc.line)
		if tc.col > 0 {
			where += fmt.Sprint(tc.col)
		}
		if !strings.Contains(p.logText(), where) {
			t.Errorf("%s: the refusal does not name %s:\n%s", tc.name, where, tail(p.logText(), 4000))
		}
		if code := healthz(listen); code != http.StatusOK {
			t.Fatalf("%s: /healthz answers %d after the refused reload", tc.name, code)
		}
	}
	if n := len(p.logText()); n > 1<<20 {
		t.Errorf("the log holds %d bytes after seven refused reloads", n)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, tail(p.logText(), 4000))
	}
}

// healthz returns the status code of /healthz, 0 when it does not answer.
func healthz(listen string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + listen + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exited reports whether the agent process has ended (a zombie counts).
func (p *agentProc) exited() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return syscall.Kill(p.cmd.Process.Pid, 0) != nil
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
