package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the user+system CPU time of process pid so far, from
// /proc (Linux), in clock ticks converted to a duration (USER_HZ = 100).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// BenchmarkAgent_IdleCPU runs the agent with 50 checks (every 30s) and 500
// rules (every minute) and reports the CPU it uses per second of wall time
// between ticks, after a warm-up. Target: near zero.
func BenchmarkAgent_IdleCPU(b *testing.B) {
	bin := tocsinBinary(b)
	dir := b.TempDir()
	var cfg strings.Builder
	withPlugins(b)
	fmt.Fprintf(&cfg, "agent {\n  node = \"bench\"\n  data_dir = \"data\"\n  plugin_dir = env(\"TOCSIN_TEST_PLUGIN_DIR\")\n  listen = %q\n}\n", freePort(b))
	cfg.WriteString("transport \"relay\" {\n  plugin = \"smtp-basic\"\n  from = \"a@example.com\"\n  config {\n    host = \"127.0.0.1\"\n    port = 1\n    security = \"none\"\n  }\n}\n")
	cfg.WriteString("contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.relay]\n}\n")
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&cfg, "check \"c%02d\" {\n  file = %q\n  every = \"30s\"\n}\n", i, marker)
	}
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&cfg, "rule \"r%03d\" {\n  when = !check.c%02d.exists\n  notify = [contact.ops]\n  subject = \"x\"\n}\n", i, i%50)
	}
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", path)
	cmd.Dir = dir
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	w := watch(b, stderr)
	w.waitFor(b, "agent started", 60*time.Second)
	time.Sleep(2 * time.Second) // warm-up
	b.ResetTimer()
	var used, wall time.Duration
	for i := 0; i < b.N; i++ {
		c0, err := cpuTime(cmd.Process.Pid)
		if err != nil {
			b.Skipf("no /proc: %v", err)
		}
		t0 := time.Now()
		time.Sleep(5 * time.Second)
		c1, _ := cpuTime(cmd.Process.Pid)
		used += c1 - c0
		wall += time.Since(t0)
	}
	b.ReportMetric(float64(used.Milliseconds())/wall.Seconds(), "cpu-ms/s")
}
