package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// make bench-compare (TOCSIN_BENCH_COMPARE=1): issue 16's table, produced
// in one run against the suite's Postfix + Dovecot. Each sender delivers
// the same burst into the same mailbox, round after round (senders
// interleaved, so that the machine's noise spreads over all of them), and
// the table gives each one's medians with their range. It measures and
// prints; it never fails on a number (a shared machine is noisy), only when
// a sender loses mail or cannot run.
//
// What is measured, for every sender alike:
//   - alert time: when the sender had the alert (go-mail: the messages are
//     built and the dial starts; Alertmanager: the POST of the alerts;
//     msmtp: the first process starts; Tocsin: the rule's "rule fire" log
//     line, or the moment the checked file appeared);
//   - mailbox time: the Maildir file's modification time (Postfix's
//     virtual delivery agent wrote it);
//   - msg/s: mails / (last mailbox time - first alert time); delivery span:
//     first to last mailbox time; p50/p99: alert to mailbox per mail;
//   - connections: the "connect from" lines of Postfix's submission
//     service while the sender ran;
//   - peak RSS: the kernel's high-water mark of each process (VmHWM, or
//     the rusage of a finished one); processes running at once (the agent
//     and its plugins, four go-mail processes) are added up.

// benchBurst is the burst of alerts every sender delivers; msmtp, which
// starts a process per mail, sends msmtpBurst of them (its rate does not
// depend on the count).
const (
	benchBurst = 200
	msmtpBurst = 50
)

func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("TOCSIN_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// sample is one sender's run.
type sample struct {
	mails   int
	rate    float64       // mails per second, first alert to last mailbox time
	total   time.Duration // first alert to last mailbox time
	span    time.Duration // first to last mailbox time
	p50     time.Duration // alert to mailbox
	p99     time.Duration
	conns   int
	peakRSS int64 // KiB
}

// clear empties the mailbox and waits for Postfix's queue to be empty, so
// that the next sender starts from nothing.
func (s *mailServer) clear(mailbox string) {
	s.t.Helper()
	await(s.t, 60*time.Second, "an empty Postfix queue", func() bool { return s.queued() == 0 })
	for _, sub := range []string{"new", "cur", "tmp"} {
		dir := filepath.Join(s.dir, "mail", mailbox, sub)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// logMark is the length of Postfix's log now; connectsSince counts the
// submission service's connections logged after it.
func (s *mailServer) logMark() int64 {
	info, err := os.Stat(filepath.Join(s.dir, "postfix.log"))
	if err != nil {
		return 0
	}
	return info.Size()
}

var submissionConnect = regexp.MustCompile(`postfix/submission/smtpd\[\d+\]: connect from `)

func (s *mailServer) connectsSince(mark int64) int {
	// postlogd writes asynchronously: let the last lines land.
	time.Sleep(300 * time.Millisecond)
	f, err := os.Open(filepath.Join(s.dir, "postfix.log"))
	must(s.t, err)
	defer f.Close()
	if _, err := f.Seek(mark, io.SeekStart); err != nil {
		s.t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if submissionConnect.Match(sc.Bytes()) {
			n++
		}
	}
	return n
}

// sessionsSince counts the submission service's connections logged after
// mark, but for the suite's own probes of the port (awaitListening), which
// send no command.
func (s *mailServer) sessionsSince(mark int64) int {
	probes := 0
	f, err := os.Open(filepath.Join(s.dir, "postfix.log"))
	must(s.t, err)
	defer f.Close()
	if _, err := f.Seek(mark, io.SeekStart); err != nil {
		s.t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if submissionProbe.Match(sc.Bytes()) {
			probes++
		}
	}
	return s.connectsSince(mark) - probes
}

var submissionProbe = regexp.MustCompile(`postfix/submission/smtpd\[\d+\]: disconnect from \S+ commands=0/0`)

// measure turns alert times (one per mail, or one for all) and the
// mailbox's arrivals into a sample.
func measure(arr []arrival, alertOf func(arrival) time.Time) sample {
	first := alertOf(arr[0])
	lat := make([]time.Duration, len(arr))
	for i, a := range arr {
		at := alertOf(a)
		if at.Before(first) {
			first = at
		}
		lat[i] = a.at.Sub(at)
	}
	slices.Sort(lat)
	last := arr[len(arr)-1].at
	total := last.Sub(first)
	return sample{
		mails: len(arr),
		rate:  float64(len(arr)) / total.Seconds(),
		total: total,
		span:  last.Sub(arr[0].at),
		p50:   percentile(lat, 50),
		p99:   percentile(lat, 99),
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // nearest rank
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// awaitMails waits until the mailbox holds n mails and returns them.
func (s *mailServer) awaitMails(n int, d time.Duration) []arrival {
	s.t.Helper()
	var arr []arrival
	await(s.t, d, fmt.Sprintf("%d mails in the Maildir", n), func() bool {
		arr = s.arrivals(opsBox)
		return len(arr) >= n
	})
	if len(arr) != n {
		s.t.Fatalf("%d mails in the Maildir, want %d", len(arr), n)
	}
	return arr
}

// procKB reads a "Vm...:  N kB" line of /proc/PID/status.
func procKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; cut after ')'.
		rest := b[bytes.LastIndexByte(b, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// treeKB adds field up over pid and its children (an agent and its
// plugins).
func treeKB(pid int, field string) int64 {
	var total int64
	for _, p := range append([]int{pid}, children(pid)...) {
		total += procKB(p, field)
	}
	return total
}

func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // KiB on Linux
	}
	return 0
}

// goMail sends the burst with the mailblast command over conns connections
// (one process each, started at once).
func goMail(t *testing.T, s *mailServer, conns int) sample {
	t.Helper()
	host, port := splitPort(t, s.subAddr)
	bin := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent/e2e/internal/mailblast", "mailblast")
	mark := s.logMark()
	type proc struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	procs := make([]*proc, conns)
	for i := range procs {
		n := benchBurst / conns
		p := &proc{cmd: exec.Command(bin, "-host", host, "-port", port, "-ca", s.caFile, "-user", senderUser, "-pass", senderPass,
			"-to", opsBox+"@"+domain, "-n", strconv.Itoa(n), "-first", strconv.Itoa(i*n), "-tag", fmt.Sprintf("go-mail-%d", conns))}
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.out
		procs[i] = p
	}
	for _, p := range procs {
		must(t, p.cmd.Start())
	}
	var rss int64
	first := time.Time{}
	for _, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("mailblast: %v\n%s", err, p.out.String())
		}
		rss += maxRSS(p.cmd.ProcessState)
		f := strings.Fields(p.out.String())
		if len(f) < 2 || f[0] != "ready" {
			t.Fatalf("mailblast printed %q", p.out.String())
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		must(t, err)
		if at := time.Unix(0, ns); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	arr := s.awaitMails(benchBurst/conns*conns, 60*time.Second)
	m := measure(arr, func(arrival) time.Time { return first })
	m.conns = s.sessionsSince(mark)
	m.peakRSS = rss
	return m
}

// msmtp sends msmtpBurst mails, one msmtp process per mail, one after the
// other, as a shell script calling msmtp would.
func msmtp(t *testing.T, s *mailServer) sample {
	t.Helper()
	host, port := splitPort(t, s.subAddr)
	conf := filepath.Join(t.TempDir(), "msmtprc")
	write(t, conf, 0o600, fmt.Sprintf(`defaults
tls on
tls_starttls on
tls_trust_file %s
account e2e
host %s
port %s
from %s
auth plain
user %s
password %s
account default : e2e
`, s.caFile, host, port, senderUser, senderUser, senderPass))
	mark := s.logMark()
	start := time.Now()
	var rss int64
	for i := range msmtpBurst {
		cmd := exec.Command("msmtp", "-C", conf, opsBox+"@"+domain)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("From: %s\r\nTo: %s@%s\r\nSubject: msmtp %d\r\nX-Bench-Seq: %d\r\n\r\nalert %d of a bench-compare burst\r\n",
			senderUser, opsBox, domain, i, i, i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("msmtp: %v\n%s", err, out)
		}
		rss = max(rss, maxRSS(cmd.ProcessState))
	}
	arr := s.awaitMails(msmtpBurst, 60*time.Second)
	m := measure(arr, func(arrival) time.Time { return start })
	m.conns = s.sessionsSince(mark)
	m.peakRSS = rss
	return m
}

// alertmanager posts the burst as benchBurst alerts in one POST to a
// Prometheus Alertmanager configured to mail each alert on its own
// (group_by ['...'], group_wait 0s) through the submission port with
// STARTTLS and AUTH PLAIN.
func alertmanager(t *testing.T, s *mailServer) sample {
	t.Helper()
	dir := t.TempDir()
	listen := freePort(t)
	write(t, filepath.Join(dir, "alertmanager.yml"), 0o600, fmt.Sprintf(`global:
  smtp_smarthost: %q
  smtp_from: %q
  smtp_auth_username: %q
  smtp_auth_password: %q
  smtp_require_tls: true
  smtp_hello: localhost
route:
  receiver: ops
  group_by: ['...']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
- name: ops
  email_configs:
  - to: %q
    send_resolved: false
    tls_config:
      ca_file: %q
`, s.subAddr, senderUser, senderUser, senderPass, opsBox+"@"+domain, s.caFile))
	logf, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	must(t, err)
	defer logf.Close()
	cmd := exec.Command(alertmanagerBinary(t), "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + listen
	await(t, 30*time.Second, "Alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	type alert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	}
	alerts := make([]alert, benchBurst)
	now := time.Now()
	for i := range alerts {
		alerts[i] = alert{Labels: map[string]string{"alertname": "bench", "seq": fmt.Sprintf("%03d", i)},
			Annotations: map[string]string{"summary": fmt.Sprintf("alert %d of a bench-compare burst", i)}, StartsAt: now}
	}
	body, err := json.Marshal(alerts)
	must(t, err)
	mark := s.logMark()
	start := time.Now()
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
	arr := s.awaitMails(benchBurst, 120*time.Second)
	m := measure(arr, func(arrival) time.Time { return start })
	m.peakRSS = procKB(cmd.Process.Pid, "VmHWM")
	m.conns = s.sessionsSince(mark)
	return m
}

func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Alertmanager is not installed: .ci/e2e/install bench installs Debian's prometheus-alertmanager (as root)")
	return ""
}

// tocsinBurst runs the agent with benchBurst rules that read one file
// check (every 1s; the rules' own schedule is once a minute, so that only
// evaluate-on-change makes them fire in time), waits until the agent is up
// and the check has seen no file, creates the file, and measures twice:
// from each rule's "rule fire" log line, and from the file's appearance.
func tocsinBurst(t *testing.T, s *mailServer) (fromFire, fromFile sample) {
	t.Helper()
	dir := t.TempDir()
	flag := filepath.Join(dir, "alert-condition")
	listen := freePort(t)
	var sb strings.Builder
	fmt.Fprintf(&sb, "check \"condition\" {\n  file = %q\n  every = \"1s\"\n}\n", flag)
	body := s.basicTransport("relay", "starttls", "plain", senderPass) + sb.String()
	config := benchConfig(t, listen, body, benchBurst)
	mark := s.logMark()
	p := startAgent(t, config, listen)
	await(t, 30*time.Second, "the agent's first tick", func() bool {
		_, ok := p.delivery()
		return ok && strings.Contains(p.logText(), "check")
	})
	time.Sleep(1500 * time.Millisecond) // the check has run and seen no file
	appeared := time.Now()
	write(t, flag, 0o644, "down\n")
	arr := s.awaitMails(benchBurst, 120*time.Second)
	fired := fireTimes(t, p.logText())
	fromFire = measure(arr, func(a arrival) time.Time {
		rule := a.header.Get("X-Tocsin-Rule")
		at, ok := fired[rule]
		if !ok {
			t.Fatalf("no \"rule fire\" log line for rule %q", rule)
		}
		return at
	})
	fromFile = measure(arr, func(arrival) time.Time { return appeared })
	rss := treeKB(p.cmd.Process.Pid, "VmHWM")
	fromFire.peakRSS, fromFile.peakRSS = rss, rss
	await(t, 20*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })
	conns := s.sessionsSince(mark)
	fromFire.conns, fromFile.conns = conns, conns
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	return fromFire, fromFile
}

// benchConfig is agentConfig with rules that fire on the condition file
// and are scheduled once a minute, at info level (the debug log of 200
// rules is not what an operator runs), with the default retries.
func benchConfig(t *testing.T, listen, body string, rules int) string {
	t.Helper()
	return writeConfig(t, configShape{node: "bench", logLevel: "info", schedule: "@every 1m", when: "check.condition.exists"}, listen, body, rules)
}

// ruleFire matches hclog's line for a rule that fires, with its time.
var ruleFire = regexp.MustCompile(`(?m)^(\S+) \[INFO\] +\S*:? ?rule fire: rule=(\S+)`)

func fireTimes(t *testing.T, log string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, m := range ruleFire.FindAllStringSubmatch(log, -1) {
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1])
		if err != nil {
			t.Fatalf("log time %q: %v", m[1], err)
		}
		out[m[2]] = at
	}
	return out
}

// senderRow is a row of the table: a sender and its samples.
type senderRow struct {
	name    string
	samples []sample
}

func (r *senderRow) median(f func(sample) float64) (med, lo, hi float64) {
	v := make([]float64, len(r.samples))
	for i, s := range r.samples {
		v[i] = f(s)
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

// TestBenchCompare prints issue 16's table: see the comment at the top of
// this file. make bench-compare runs it.
func TestBenchCompare(t *testing.T) {
	if os.Getenv("TOCSIN_BENCH_COMPARE") != "1" {
		t.Skip("the comparison runs with TOCSIN_BENCH_COMPARE=1 (make bench-compare)")
	}
	if only := os.Getenv("TOCSIN_BENCH_ONLY"); only != "" && regexp.MustCompile(only).MatchString("idle") {
		t.Skip("TOCSIN_BENCH_ONLY asks for idle only")
	}
	s := startMailServer(t)
	rows := map[string]*senderRow{}
	order := []string{"go-mail, 4 connections", "go-mail, 1 connection", "Tocsin, from the rule fire", "Tocsin, from the file's appearance", "Alertmanager 0.25", "msmtp, a process per mail"}
	// TOCSIN_BENCH_BASE (make bench-compare BASE=dir) names another build's
	// bin directory: its Tocsin runs too, in every round, and the table
	// compares the two within the run (an A/B that the machine's noise
	// between runs does not drown).
	base := os.Getenv("TOCSIN_BENCH_BASE")
	const baseFire = "Tocsin of BASE, from the rule fire"
	if base != "" {
		order = append(order, baseFire)
	}
	for _, name := range order {
		rows[name] = &senderRow{name: name}
	}
	add := func(name string, m sample) { rows[name].samples = append(rows[name].samples, m) }
	rounds := benchRounds()
	// TOCSIN_BENCH_ONLY (a regular expression) runs only the senders it
	// matches; the targets need the ceiling and Tocsin.
	var only *regexp.Regexp
	if expr := os.Getenv("TOCSIN_BENCH_ONLY"); expr != "" {
		only = regexp.MustCompile(expr)
	}
	for round := range rounds {
		// Rotate the order each round, so that no sender always runs
		// right after the same one.
		runs := []struct {
			rows []string
			run  func()
		}{
			{order[:1], func() { add(order[0], goMail(t, s, 4)) }},
			{order[1:2], func() { add(order[1], goMail(t, s, 1)) }},
			{order[2:4], func() { f, a := tocsinBurst(t, s); add(order[2], f); add(order[3], a) }},
			{order[4:5], func() { add(order[4], alertmanager(t, s)) }},
			{order[5:6], func() { add(order[5], msmtp(t, s)) }},
		}
		if base != "" {
			runs = append(runs, struct {
				rows []string
				run  func()
			}{[]string{"Tocsin, from the rule fire", baseFire}, func() {
				own := os.Getenv(sdktest.BinDirEnv)
				must(t, os.Setenv(sdktest.BinDirEnv, base))
				defer func() { must(t, os.Setenv(sdktest.BinDirEnv, own)) }()
				f, _ := tocsinBurst(t, s)
				add(baseFire, f)
			}})
		}
		for i := range runs {
			r := runs[(i+round)%len(runs)]
			if only != nil && !slices.ContainsFunc(r.rows, only.MatchString) {
				continue
			}
			s.clear(opsBox)
			r.run()
		}
		t.Logf("round %d of %d done", round+1, rounds)
	}
	if os.Getenv("TOCSIN_E2E_KEEP") != "1" {
		s.clear(opsBox)
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\nbench-compare: a burst of %d alerts (msmtp: %d) into Postfix + Dovecot on 127.0.0.1 (submission, STARTTLS, AUTH PLAIN); medians of %d rounds, range in brackets\n\n", benchBurst, msmtpBurst, rounds)
	fmt.Fprintln(&out, "| sender | msg/s (to the last mail) | alert to last mail | delivery span | p50 alert → mailbox | p99 alert → mailbox | SMTP connections | peak RSS |")
	fmt.Fprintln(&out, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	ms := func(d float64) string { return fmt.Sprintf("%.0f ms", d) }
	for _, name := range order {
		r := rows[name]
		if len(r.samples) == 0 {
			continue
		}
		rate, rlo, rhi := r.median(func(s sample) float64 { return s.rate })
		total, _, _ := r.median(func(s sample) float64 { return float64(s.total.Milliseconds()) })
		span, _, _ := r.median(func(s sample) float64 { return float64(s.span.Milliseconds()) })
		p50, _, _ := r.median(func(s sample) float64 { return float64(s.p50.Milliseconds()) })
		p99, plo, phi := r.median(func(s sample) float64 { return float64(s.p99.Milliseconds()) })
		conns, clo, chi := r.median(func(s sample) float64 { return float64(s.conns) })
		rss, _, _ := r.median(func(s sample) float64 { return float64(s.peakRSS) })
		fmt.Fprintf(&out, "| %s | %.0f (%.0f–%.0f) | %s | %s | %s | %s (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.1f MB |\n",
			name, rate, rlo, rhi, ms(total), ms(span), ms(p50), ms(p99), plo, phi, conns, clo, chi, rss/1024)
	}
	defer func() {
		fmt.Print(out.String())
		appendBenchOut(t, out.String())
	}()
	if base != "" {
		out.WriteString(abLine(rows[order[2]], rows[baseFire], base))
	}
	if slices.ContainsFunc(order, func(name string) bool { return len(rows[name].samples) == 0 }) {
		return // not every sender ran: no targets
	}
	ceiling := rows[order[0]]
	fire := rows[order[2]]
	file := rows[order[3]]
	cRate, _, _ := ceiling.median(func(s sample) float64 { return s.rate })
	cTotal, _, _ := ceiling.median(func(s sample) float64 { return s.total.Seconds() })
	cSpan, _, _ := ceiling.median(func(s sample) float64 { return s.span.Seconds() })
	fRate, _, _ := fire.median(func(s sample) float64 { return s.rate })
	fP99, _, _ := fire.median(func(s sample) float64 { return s.p99.Seconds() })
	fSpan, _, _ := fire.median(func(s sample) float64 { return s.span.Seconds() })
	fConns, _, hiConns := fire.median(func(s sample) float64 { return float64(s.conns) })
	aP99, _, _ := file.median(func(s sample) float64 { return s.p99.Seconds() })
	amRate, _, _ := rows[order[4]].median(func(s sample) float64 { return s.rate })
	mRate, _, _ := rows[order[5]].median(func(s sample) float64 { return s.rate })
	fmt.Fprintf(&out, "\nTargets (issue 16), Tocsin against the ceiling (go-mail over 4 connections) of this run:\n")
	fmt.Fprintf(&out, "- msg/s from the rule fire ≥ 0.9 × ceiling: %.0f vs %.0f = %.2f×: %s\n", fRate, cRate, fRate/cRate, verdict(fRate >= 0.9*cRate))
	fmt.Fprintf(&out, "- p99 from the rule fire ≤ 1.25 × the ceiling's time for all %d: %.0f ms vs %.0f ms = %.2f×: %s\n", benchBurst, fP99*1000, cTotal*1000, fP99/cTotal, verdict(fP99 <= 1.25*cTotal))
	fmt.Fprintf(&out, "- delivery span ≤ 1.2 × the ceiling's span: %.0f ms vs %.0f ms = %.2f×: %s\n", fSpan*1000, cSpan*1000, fSpan/cSpan, verdict(fSpan <= 1.2*cSpan))
	fmt.Fprintf(&out, "- at most 4 SMTP connections: median %.0f, most %.0f: %s\n", fConns, hiConns, verdict(hiConns <= 4))
	fmt.Fprintf(&out, "- p99 from the file's appearance ≤ the check's interval (1 s) + 1.25 × the ceiling's time: %.0f ms vs %.0f ms: %s\n", aP99*1000, (1+1.25*cTotal)*1000, verdict(aP99 <= 1+1.25*cTotal))
	fmt.Fprintf(&out, "- ≥ 50 × per-message msmtp: %.0f vs %.1f = %.0f×: %s\n", fRate, mRate, fRate/mRate, verdict(fRate >= 50*mRate))
	fmt.Fprintf(&out, "- (for the record) Tocsin against Alertmanager: %.1f×\n", fRate/amRate)
}

// abLine says how the Tocsin of this build and that of BASE compared in
// the rows of one run: medians of msg/s and of alert to last mail, and of
// each round's ratio of the two rates.
func abLine(own, base *senderRow, baseDir string) string {
	n := min(len(own.samples), len(base.samples))
	if n == 0 {
		return ""
	}
	ratios := &senderRow{}
	for i := range n {
		ratios.samples = append(ratios.samples, sample{rate: own.samples[i].rate / base.samples[i].rate})
	}
	rate, _, _ := own.median(func(s sample) float64 { return s.rate })
	total, _, _ := own.median(func(s sample) float64 { return float64(s.total.Milliseconds()) })
	bRate, _, _ := base.median(func(s sample) float64 { return s.rate })
	bTotal, _, _ := base.median(func(s sample) float64 { return float64(s.total.Milliseconds()) })
	r, lo, hi := ratios.median(func(s sample) float64 { return s.rate })
	return fmt.Sprintf("\nA/B within this run, from the rule fire: this build %.0f msg/s, alert to last mail %.0f ms; BASE (%s) %.0f msg/s, %.0f ms; this build's rate over BASE's, round by round: %.2f× (%.2f–%.2f)\n",
		rate, total, baseDir, bRate, bTotal, r, lo, hi)
}
