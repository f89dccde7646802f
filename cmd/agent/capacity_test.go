package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestCapacity_RealAgent runs the real agent with 1,000 file checks (each
// on its own 30 s interval) and 10,000 rules on one schedule (@every 3s)
// for 10 ticks, sending through smtp-basic to an in-process server. It
// reports the ticks' times (tocsin_rule_tick_duration_seconds) and the
// agent's CPU time per tick interval, the latency of /v1/status polled
// meanwhile, the agent's RSS during the ticks (VmRSS sampled at each poll,
// and VmHWM reset after the first tick; the lifetime VmHWM, which holds
// the start's parse, is reported apart) and how long SIGTERM takes, and
// checks them against the targets: ticks under 50 ms, /v1/status under
// 100 ms, RSS during the ticks under 150 MB. It is a
// measurement, not a unit test: it runs only with TOCSIN_CAPACITY=1 (make
// capacity), on an otherwise idle machine.
func TestCapacity_RealAgent(t *testing.T) {
	if os.Getenv("TOCSIN_CAPACITY") == "" {
		t.Skip("a measurement: set TOCSIN_CAPACITY=1 (make capacity)")
	}
	const checks, rules, ticks = 1000, 10000, 10
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range checks {
		if rng.IntN(10) == 0 {
			continue // one in ten missing
		}
		if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("f%04d", i)), make([]byte, rng.IntN(200)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listen := freePort(t)
	host, port, _ := strings.Cut(srv.Addr(), ":")
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent {\n  node = \"cap\"\n  data_dir = %q\n  listen = %q\n  plugin_dir = env(\"TOCSIN_TEST_PLUGIN_DIR\")\n}\n", filepath.Join(dir, "data"), listen)
	fmt.Fprintf(&sb, "transport \"relay\" {\n  plugin = \"smtp-basic\"\n  from = \"a@example.com\"\n  config {\n    host = %q\n    port = %s\n    security = \"none\"\n  }\n}\n", host, port)
	sb.WriteString("contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.relay]\n}\n")
	sb.WriteString("node {\n  role = \"backup\"\n}\n")
	for i := range checks {
		fmt.Fprintf(&sb, "check \"c%04d\" {\n  file = %q\n  every = \"30s\"\n}\n", i, filepath.Join(files, fmt.Sprintf("f%04d", i)))
	}
	conds := []string{
		`!check.%[1]s.exists`,
		`coalesce(check.%[1]s.size, 0) > 120`,
		`!check.%[1]s.ok || coalesce(check.%[2]s.age, 0) > 86400`,
		`check.%[1]s.exists && check.%[2]s.size == 0`,
		`node.role == "backup" && !check.%[1]s.exists`,
		`check.%[1]s.ok == false || coalesce(check.%[2]s.size, 0) > 1000000`,
		`!check.%[1]s.exists && check.%[2]s.exists`,
		`outbox.pending > 1000 && !check.%[1]s.exists`,
	}
	for i := range rules {
		cond := fmt.Sprintf(conds[i%len(conds)], fmt.Sprintf("c%04d", rng.IntN(checks)), fmt.Sprintf("c%04d", rng.IntN(checks)))
		fmt.Fprintf(&sb, "rule \"r%05d\" {\n  schedule = \"@every 3s\"\n  when = %s\n  repeat = \"1h\"\n  notify = [contact.ops]\n  subject = \"${rule.name} on ${agent.node}\"\n}\n", i, cond)
	}
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startAgent(t, path, listen)
	client := http.Client{Timeout: 30 * time.Second}
	get := func(url string) (string, time.Duration, error) {
		t0 := time.Now()
		resp, err := authGet(&client, p.dataDir, url)
		if err != nil {
			return "", 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), time.Since(t0), err
	}
	// tickStats returns the number of ticks so far, their summed time and
	// the count at or under 50 ms.
	tickStats := func() (n, sum, under50 float64) {
		body, _, err := get("http://" + listen + "/metrics")
		if err != nil {
			return 0, 0, 0
		}
		for _, line := range strings.Split(body, "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch {
			case f[0] == "tocsin_rule_tick_duration_seconds_count":
				n = v
			case f[0] == "tocsin_rule_tick_duration_seconds_sum":
				sum = v
			case f[0] == `tocsin_rule_tick_duration_seconds_bucket{le="0.05"}`:
				under50 = v
			}
		}
		return n, sum, under50
	}
	await(t, 120*time.Second, "the first tick", func() bool { n, _, _ := tickStats(); return n >= 1 })
	pid := p.cmd.Process.Pid
	startPeak := vmHWM(t, pid)
	// The peak over the ticks: reset the high-water mark to the current
	// RSS (Linux: clear_refs 5), after the start's peak (parsing the
	// configuration).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200); err != nil {
		t.Logf("cannot reset the peak RSS (%v): the peak includes the start", err)
	}
	firstTicks, firstSum, _ := tickStats()
	cpu0 := procCPU(t, pid)
	var lat []time.Duration
	var rss []int // VmRSS samples (kB) during the ticks
	deadline := time.Now().Add(3 * time.Minute)
	// /v1/status is polled every 50 ms (unless TOCSIN_CAPACITY_POLL says otherwise); /metrics (about 1 MB with 10,000
	// rules) once a second, to count the ticks: more often than any
	// Prometheus scrapes, and not the load the targets are about.
	// TOCSIN_CAPACITY_POLL sets another interval for /v1/status.
	poll := 50 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("TOCSIN_CAPACITY_POLL")); err == nil {
		poll = d
	}
	var scraped time.Time
	// Each tick's time, from the histogram's sum where its count grew by
	// one between two scrapes (ticks are 3 s apart, scrapes 1 s).
	var each []string
	lastN, lastSum := firstTicks, firstSum
	for {
		if time.Since(scraped) >= time.Second {
			n, sum, _ := tickStats()
			if n == lastN+1 {
				each = append(each, fmt.Sprintf("%.1f", (sum-lastSum)*1000))
			} else if n > lastN {
				each = append(each, fmt.Sprintf("%v ticks: %.1f", n-lastN, (sum-lastSum)*1000))
			}
			lastN, lastSum = n, sum
			if n >= ticks+1 || time.Now().After(deadline) {
				break
			}
			scraped = time.Now()
		}
		_, d, err := get("http://" + listen + "/v1/status")
		if err != nil {
			t.Fatalf("/v1/status: %v", err)
		}
		lat = append(lat, d)
		rss = append(rss, procStatus(t, pid, "VmRSS"))
		time.Sleep(poll)
	}
	n, sum, under50 := tickStats()
	cpu := procCPU(t, pid) - cpu0
	kb := vmHWM(t, pid)
	// TOCSIN_CAPACITY_DEBUG=1 adds the agent's memory statistics, its
	// RSS split and, when GODEBUG=gctrace=1 is set, its GC trace.
	if os.Getenv("TOCSIN_CAPACITY_DEBUG") != "" {
		mb, _, _ := get("http://" + listen + "/metrics")
		sb, _, _ := get("http://" + listen + "/v1/status")
		for _, line := range strings.Split(p.logText(), "\n") {
			if strings.HasPrefix(line, "gc ") || strings.HasPrefix(line, "scvg") {
				t.Log(line)
			}
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(line, "Rss") {
				t.Log(line)
			}
		}
		t.Logf("/metrics %d bytes, /v1/status %d bytes", len(mb), len(sb))
		for _, line := range strings.Split(mb, "\n") {
			if strings.HasPrefix(line, "go_memstats_") || strings.HasPrefix(line, "go_gc") {
				t.Log(line)
			}
		}
	}
	t0 := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	stop := time.Since(t0)

	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	t.Logf("%v ticks, mean %.1f ms, %v of them at or under 50 ms (the first, with ~1,000 fires, included)", n, sum/n*1000, under50)
	t.Logf("ticks %v to %v, each (ms): %s", firstTicks+1, n, strings.Join(each, ", "))
	t.Logf("/v1/status: %d requests, p50 %v, p99 %v, max %v", len(lat), pct(.5), pct(.99), pct(1))
	maxRSS, sumRSS := 0, 0
	for _, v := range rss {
		maxRSS = max(maxRSS, v)
		sumRSS += v
	}
	if len(rss) > 0 {
		t.Logf("RSS (VmRSS, %d samples) over ticks %v to %v: max %.1f MB, mean %.1f MB, min %.1f MB, first %.1f MB",
			len(rss), firstTicks, n, float64(maxRSS)/1024, float64(sumRSS)/float64(len(rss))/1024, float64(slices.Min(rss))/1024, float64(rss[0])/1024)
	}
	if dn := n - firstTicks; dn > 0 {
		t.Logf("ticks %v to %v: wall %.1f ms per tick (the tick metric), agent CPU (user+sys, all goroutines, %v ticks) %.1f ms per tick interval",
			firstTicks+1, n, (sum-firstSum)/dn*1000, dn, float64(cpu.Milliseconds())/dn)
	}
	t.Logf("peak RSS (VmHWM, reset after the first tick) over ticks %v to %v: %.1f MB; lifetime VmHWM at the start (parsing the configuration): %.1f MB; SIGTERM to exit: %v; %d mails received",
		firstTicks, n, float64(kb)/1024, float64(startPeak)/1024, stop.Round(time.Millisecond), len(srv.Messages()))
	if float64(maxRSS)/1024 >= 150 {
		t.Errorf("RSS during the ticks up to %.1f MB, want under 150 MB", float64(maxRSS)/1024)
	}
	if float64(kb)/1024 >= 150 {
		t.Errorf("peak RSS over the ticks %.1f MB, want under 150 MB", float64(kb)/1024)
	}
	if pct(1) >= 100*time.Millisecond {
		t.Errorf("/v1/status took up to %v, want under 100 ms", pct(1))
	}
	if n-under50 > 1 {
		t.Errorf("%v of %v ticks took over 50 ms", n-under50, n)
	}
}

// procStatus returns field (in kB) of /proc/PID/status, 0 if absent.
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

// procCPU returns the CPU time (user and system) process pid has used,
// from /proc/PID/stat, or 0 where there is none.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses.
	_, rest, ok := strings.Cut(string(stat), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// vmHWM returns the peak RSS of process pid in kB, from /proc.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	t.Skip("no VmHWM in /proc/PID/status")
	return 0
}
