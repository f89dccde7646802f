package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// These tests run the real agent and smtp-basic binaries against
// in-process SMTP servers, and check the outbox's promise: every
// notification arrives, through restarts and failures, with duplicates
// only where the agent could not know a send had succeeded.

// burstConfig writes a config with rules r000..r(rules-1), each true at
// once, each notifying every contact c0..c(contacts-1), all through
// transport "relay" at relayAddr, or through the via chains given.
type burstConfig struct {
	rules, contacts int
	transports      map[string]string // name -> host:port (smtp-basic, no TLS)
	via             []string          // the chain of every contact
	extra           string            // more configuration, such as a delivery block
	rateLimit       string            // every transport's rate_limit, if set
	// maxConnections is every transport's max_connections, if set: 1
	// for a test whose signal must meet a burst in flight, which a pool
	// of four would finish first.
	maxConnections int
}

func (b burstConfig) write(t *testing.T, listen string) (path, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent {\n  node = \"node-a\"\n  plugin_dir = env(\"TOCSIN_TEST_PLUGIN_DIR\")\n  data_dir = \"data\"\n  listen = %q\n  log_level = \"debug\"\n}\n", listen)
	for name, addr := range b.transports {
		host, port, _ := strings.Cut(addr, ":")
		fmt.Fprintf(&sb, "transport %q {\n  plugin = \"smtp-basic\"\n  from = \"tocsin@example.com\"\n", name)
		if b.rateLimit != "" {
			fmt.Fprintf(&sb, "  rate_limit = %q\n", b.rateLimit)
		}
		fmt.Fprintf(&sb, "  config {\n    host = %q\n    port = %s\n    security = \"none\"\n    timeout = \"5s\"\n", host, port)
		if b.maxConnections > 0 {
			fmt.Fprintf(&sb, "    max_connections = %d\n", b.maxConnections)
		}
		sb.WriteString("  }\n}\n")
	}
	var contacts []string
	for c := range b.contacts {
		var via []string
		for _, v := range b.via {
			via = append(via, "transport."+v)
		}
		fmt.Fprintf(&sb, "contact \"c%d\" {\n  email = [\"c%d@example.com\"]\n  via = [%s]\n}\n", c, c, strings.Join(via, ", "))
		contacts = append(contacts, fmt.Sprintf("contact.c%d", c))
	}
	for r := range b.rules {
		fmt.Fprintf(&sb, "rule \"r%03d\" {\n  schedule = \"@every 1s\"\n  when = true\n  notify = [%s]\n  subject = \"r%03d\"\n}\n", r, strings.Join(contacts, ", "), r)
	}
	sb.WriteString(b.extra)
	path = filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, filepath.Join(dir, "data")
}

// agentProc is a running tocsin binary whose log goes to a file.
type agentProc struct {
	cmd    *exec.Cmd
	log    string
	listen string
	// dataDir holds the agent's admin token, for the API.
	dataDir string
}

func startAgent(t *testing.T, config, listen string) *agentProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "agent-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tocsinBinary(t), "run", "-config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = logf.Close()
	p := &agentProc{cmd: cmd, log: logf.Name(), listen: listen, dataDir: dataDirOf(t, config)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

func (p *agentProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// delivery reads /v1/status's delivery part; ok is false while the agent
// does not answer.
func (p *agentProc) delivery() (agent.DeliveryStatus, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := authGet(&c, p.dataDir, "http://"+p.listen+"/v1/status")
	if err != nil {
		return agent.DeliveryStatus{}, false
	}
	defer resp.Body.Close()
	var s agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return agent.DeliveryStatus{}, false
	}
	return s.Delivery, true
}

// await polls cond every 50ms until it holds or d passes.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tally counts what a server received, by Message-ID and by rule+contact.
type tally struct {
	ids   map[string]int
	pairs map[string]bool
	dups  int
}

func count(t *testing.T, msgs ...[]testserver.Received) tally {
	t.Helper()
	tl := tally{ids: map[string]int{}, pairs: map[string]bool{}}
	for _, ms := range msgs {
		for _, m := range ms {
			parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatalf("unparsable message: %v", err)
			}
			id := parsed.Header.Get("Message-ID")
			tl.ids[id]++
			if tl.ids[id] > 1 {
				tl.dups++
			}
			tl.pairs[parsed.Header.Get("X-Tocsin-Rule")+" "+parsed.Header.Get("To")] = true
		}
	}
	return tl
}

func TestDelivery_MailServerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	// A server that is down: started for its address, then closed.
	first := testserver.StartT(t, testserver.Options{})
	addr := first.Addr()
	first.Close()

	listen := freePort(t)
	path, _ := burstConfig{rules: 200, contacts: 1, transports: map[string]string{"relay": addr}, via: []string{"relay"}}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "200 notifications in the outbox, retried", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending == 200 && d.Retried > 0
	})
	srv := testserver.StartT(t, testserver.Options{Addr: addr})
	await(t, 90*time.Second, "200 messages after the server came back", func() bool { return len(srv.Messages()) >= 200 })
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })
	tl := count(t, srv.Messages())
	t.Logf("received %d messages, %d distinct Message-IDs, %d duplicates", len(srv.Messages()), len(tl.ids), tl.dups)
	if len(tl.ids) != 200 || len(tl.pairs) != 200 {
		t.Errorf("got %d Message-IDs for %d rule/contact pairs, want 200 each", len(tl.ids), len(tl.pairs))
	}
	if tl.dups != 0 {
		t.Errorf("%d duplicates; a server that was simply down must cause none", tl.dups)
	}
}

func TestDelivery_KilledDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	// A slow server, so the kill lands mid-drain.
	srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageData {
			time.Sleep(3 * time.Millisecond)
		}
		return nil
	}})
	listen := freePort(t)
	path, _ := burstConfig{rules: 100, contacts: 10, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "300 messages before the kill", func() bool { return len(srv.Messages()) >= 300 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	before := len(srv.Messages())
	if before >= 1000 {
		t.Fatalf("all %d messages arrived before the kill; the test proves nothing", before)
	}

	p2 := startAgent(t, path, listen)
	await(t, 90*time.Second, "every rule/contact pair after the restart", func() bool { return len(count(t, srv.Messages()).pairs) >= 1000 })
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p2.delivery(); return ok && d.Pending == 0 })
	tl := count(t, srv.Messages())
	t.Logf("killed after %d messages; received %d in all, %d distinct Message-IDs, %d duplicates", before, len(srv.Messages()), len(tl.ids), tl.dups)
	// Only what was in flight at the kill can be sent twice: at most two
	// batches of 25 (SendsPerTransport × batch_size) on the one transport.
	if tl.dups > 50 {
		t.Errorf("%d duplicates, want at most the two batches in flight (50)", tl.dups)
	}
}

func TestDelivery_PermanentErrorFallsBackAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	refusing := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageMail {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
		}
		return nil
	}})
	good := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path, _ := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"bad": refusing.Addr(), "good": good.Addr()}, via: []string{"bad", "good"}}.write(t, listen)
	start := time.Now()
	p := startAgent(t, path, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := good.Wait(ctx, 1); err != nil {
		t.Fatalf("the fallback transport got nothing: %v\n%s", err, p.logText())
	}
	// The first retry would wait 10s (8s with jitter): getting there
	// sooner proves the permanent error skipped the backoff.
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("fallback took %v; a permanent error must move on at once", took)
	}
	if !strings.Contains(p.logText(), "trying the next one") {
		t.Errorf("the log does not say the transport failed over:\n%s", p.logText())
	}
}

func TestDelivery_ExhaustedChainIsDeadLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	refusing := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageMail {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
		}
		return nil
	}})
	listen := freePort(t)
	path, _ := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"bad": refusing.Addr()}, via: []string{"bad"}}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "a dead letter", func() bool { d, ok := p.delivery(); return ok && d.Dead == 1 && d.Pending == 0 })
	if !strings.Contains(p.logText(), "dead letter") {
		t.Errorf("the log does not report the dead letter:\n%s", p.logText())
	}
	// The operator sees it, with what to do, while the agent runs.
	r := runCLI(t, "outbox", "list", "-config", path)
	if r.code != exitOK || !strings.Contains(r.stdout, "dead") || !strings.Contains(r.stdout, "550 5.7.1") || !strings.Contains(strings.ToLower(r.stdout), "remedy") {
		t.Errorf("outbox list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestDelivery_CorruptOutboxRefusesToStart(t *testing.T) {
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path, dataDir := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}}.write(t, listen)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "outbox.db"), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "run", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, "tocsin outbox recover -config "+path) {
		t.Fatalf("run with a damaged outbox: exit %d\n%s", r.code, r.stderr)
	}
	// The recovery command it names works, and the agent then starts
	// with what could be kept (nothing, from garbage), the damaged file
	// kept aside.
	if r := runCLI(t, "outbox", "recover", "-config", path); r.code != exitOK {
		t.Fatalf("outbox recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if aside, _ := filepath.Glob(filepath.Join(dataDir, "outbox.db.corrupt-*")); len(aside) != 1 {
		t.Errorf("damaged file kept aside: %v", aside)
	}
	p := startAgent(t, path, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.Wait(ctx, 1); err != nil {
		t.Fatalf("the agent did not deliver after recovery: %v\n%s", err, p.logText())
	}
}

// fastRetries makes retries quick enough for a test.
const fastRetries = "delivery {\n  retry_initial = \"200ms\"\n  retry_max = \"1s\"\n}\n"

// pluginPIDs returns the PIDs of the agent's plugin processes named name.
func (p *agentProc) pluginPIDs(t *testing.T, name string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(p.cmd.Process.Pid) {
			continue
		}
		if cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); strings.Contains(string(cmdline), "tocsin-plugin-"+name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// openFiles counts the agent's open file descriptors.
func (p *agentProc) openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(fds)
}

func TestDelivery_PluginKilledMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageData {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}})
	listen := freePort(t)
	path, _ := burstConfig{rules: 50, contacts: 10, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: fastRetries}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "100 messages before the plugin is killed", func() bool { return len(srv.Messages()) >= 100 })
	pids := p.pluginPIDs(t, "smtp-basic")
	if len(pids) != 1 {
		t.Fatalf("found plugin processes %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Messages())
	await(t, 90*time.Second, "every rule/contact pair after the plugin's restart", func() bool { return len(count(t, srv.Messages()).pairs) >= 500 })
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })
	tl := count(t, srv.Messages())
	t.Logf("plugin killed after %d messages; received %d in all, %d distinct Message-IDs, %d duplicates", before, len(srv.Messages()), len(tl.ids), tl.dups)
	if before >= 500 {
		t.Fatal("everything arrived before the kill; the test proves nothing")
	}
	if after := p.pluginPIDs(t, "smtp-basic"); len(after) != 1 || after[0] == pids[0] {
		t.Errorf("plugin processes after the kill: %v (killed %d); want a new one", after, pids[0])
	}
	if tl.dups > 50 {
		t.Errorf("%d duplicates, want at most the batch in flight (50)", tl.dups)
	}
}

func TestDelivery_FlakyServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage != testserver.StageData {
			return nil
		}
		mu.Lock()
		x := rnd.Float64()
		mu.Unlock()
		switch {
		case x < 0.1: // hang up after DATA
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection dropped"}
		case x < 0.4:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	}})
	listen := freePort(t)
	path, _ := burstConfig{rules: 20, contacts: 10, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: fastRetries}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "the agent's status", func() bool { _, ok := p.delivery(); return ok })
	fdsBefore, goBefore := p.openFiles(t), p.metric(t, "go_goroutines")
	await(t, 120*time.Second, "all 200 notifications through the flaky server", func() bool { return len(count(t, srv.Messages()).pairs) >= 200 })
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })
	d, _ := p.delivery()
	tl := count(t, srv.Messages())
	t.Logf("200 notifications: %d retries, %d received, %d duplicates", d.Retried, len(srv.Messages()), tl.dups)
	if d.Retried == 0 {
		t.Error("no retries: the server was not flaky")
	}
	// Give idle connections and plugin streams time to close, then
	// compare: a leak grows with the retries (hundreds here).
	time.Sleep(time.Second)
	if fdsAfter := p.openFiles(t); fdsAfter > fdsBefore+5 {
		t.Errorf("open files grew from %d to %d over the run", fdsBefore, fdsAfter)
	}
	if goAfter := p.metric(t, "go_goroutines"); goAfter > goBefore+10 {
		t.Errorf("goroutines grew from %v to %v over the run", goBefore, goAfter)
	}
	if sent := p.metric(t, `tocsin_notifications_sent_total{contact="c0",transport="relay"}`); sent != 20 {
		t.Errorf("/metrics counts %v sent to c0, want 20", sent)
	}
}

// metric scrapes /metrics and returns the value of the sample named
// (with its labels, as printed) series.
func (p *agentProc) metric(t *testing.T, series string) float64 {
	t.Helper()
	body := p.scrape(t)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", series, body)
	return 0
}

func TestRun_SIGHUPReloadsKeepingTheQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	down := testserver.StartT(t, testserver.Options{})
	downAddr := down.Addr()
	down.Close()
	live := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)

	// r000 fires at once into a transport whose server is down: its
	// notification waits in the outbox.
	path, _ := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"relay": downAddr}, via: []string{"relay"}, extra: fastRetries}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "a notification waiting in the outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 1 && d.Retried > 0 })

	// The new configuration points the transport at a live server and
	// adds a rule.
	path2, _ := burstConfig{rules: 2, contacts: 1, transports: map[string]string{"relay": live.Addr()}, via: []string{"relay"}, extra: fastRetries}.write(t, listen)
	copyFile(t, path2, path)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await(t, 30*time.Second, "both rules' mail at the live server", func() bool { return len(count(t, live.Messages()).pairs) >= 2 })
	time.Sleep(1500 * time.Millisecond) // a second evaluation of r000 must not fire it again
	tl := count(t, live.Messages())
	if len(live.Messages()) != 2 || tl.dups != 0 {
		t.Errorf("the live server got %d messages (%v); want r000 from the queue and r001, once each", len(live.Messages()), tl.pairs)
	}
	if !strings.Contains(p.logText(), "configuration reloaded") {
		t.Errorf("no reload in the log:\n%s", p.logText())
	}

	// A broken configuration is refused, with where it is wrong, and the
	// agent keeps running on the old one.
	if err := os.WriteFile(path, []byte("agent {\n  node = \n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await(t, 10*time.Second, "the refused reload in the log", func() bool { return strings.Contains(p.logText(), "reload refused") })
	if !strings.Contains(p.logText(), "agent.hcl:2") {
		t.Errorf("the refusal does not point at the file and line:\n%s", p.logText())
	}
	if _, ok := p.delivery(); !ok {
		t.Error("the agent stopped answering after a refused reload")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write to a temporary file and rename, as an editor or config
	// management does, so the agent never reads half a file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func TestDelivery_SIGTERMDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageData {
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}})
	listen := freePort(t)
	// The drain stops taking new work after 1.5s; the batch in flight
	// then (at most 50 messages, 0.5s) still finishes.
	path, _ := burstConfig{rules: 50, contacts: 10, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: "delivery {\n  drain_timeout = \"1500ms\"\n}\n", maxConnections: 1}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "100 messages before SIGTERM", func() bool { return len(srv.Messages()) >= 100 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logText())
	}
	atStop := len(srv.Messages())
	// Whatever the drain did not send waits in the outbox; a restart
	// sends it. A graceful stop leaves nothing in an unknown state: no
	// duplicates.
	p2 := startAgent(t, path, listen)
	await(t, 60*time.Second, "every rule/contact pair after the restart", func() bool { return len(count(t, srv.Messages()).pairs) >= 500 })
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p2.delivery(); return ok && d.Pending == 0 })
	tl := count(t, srv.Messages())
	t.Logf("SIGTERM after 100 messages; %d received by the stop, %d in all, %d duplicates", atStop, len(srv.Messages()), tl.dups)
	if atStop >= 500 {
		t.Error("the drain sent everything: the test does not reach the deadline")
	}
	if tl.dups != 0 {
		t.Errorf("%d duplicates after a graceful stop, want 0", tl.dups)
	}
}

// TestDelivery_AlertWhenTheChannelFails: the library's delivery_failing
// rule watches the alerting channel. Transport relay answers 451 to every
// message, so the startup notification waits in the outbox; once relay
// has failed for delivery_alert_after, the alert goes to
// delivery_alert_contact through transport backup. When relay works
// again, the waiting notification goes through and the alert resolves.
func TestDelivery_AlertWhenTheChannelFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	var down atomic.Bool
	down.Store(true)
	relay := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageMail && down.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Mail server temporarily rejected message"}
		}
		return nil
	}})
	backup := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path, _ := burstConfig{transports: map[string]string{"relay": relay.Addr(), "backup": backup.Addr()}, extra: `
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
contact "ops_fallback" {
  email = ["ops@example.net"]
  via   = [transport.backup]
}
delivery {
  retry_initial = "300ms"
  retry_max     = "500ms"
}
library "failover" {
  role                   = "backup"
  peer_url               = "http://` + freePort(t) + `"
  notify                 = [contact.ops]
  delivery_alert_contact = contact.ops_fallback
  delivery_alert_after   = "3s"
  evaluate_every         = "1s"
}
`}.write(t, listen)
	start := time.Now()
	p := startAgent(t, path, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	got, err := backup.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("no delivery alert through backup: %v\n%s", err, p.logText())
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("the alert came after %v, before relay had failed for delivery_alert_after (3s)", took)
	}
	alert := got[0]
	if s := subjectOf(t, alert); !strings.HasPrefix(s, "node-a: notifications through relay have failed for") || !strings.Contains(s, "451") {
		t.Errorf("alert subject %q", s)
	}
	if !slices.Equal(alert.To, []string{"ops@example.net"}) {
		t.Errorf("alert to %v, want delivery_alert_contact's address", alert.To)
	}
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("relay accepted %d messages while down", n)
	}
	// /v1/status says which transport fails, since when and why.
	if d, ok := p.delivery(); !ok || d.Transports["relay"].Failing == nil || !strings.Contains(d.Transports["relay"].Failing.LastError, "451") || d.Transports["backup"].Failing != nil {
		t.Errorf("status while relay fails: %+v", d.Transports)
	}

	// relay works again: the startup notification goes through, and
	// the alert resolves through backup.
	down.Store(false)
	if _, err := relay.Wait(ctx, 1); err != nil {
		t.Fatalf("the waiting notification never went through relay: %v\n%s", err, p.logText())
	}
	got, err = backup.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("no resolve through backup: %v\n%s", err, p.logText())
	}
	if s := subjectOf(t, got[1]); s != "Resolved: node-a: notifications go through again" {
		t.Errorf("resolve subject %q", s)
	}
	if d, ok := p.delivery(); !ok || d.Transports["relay"].Failing != nil {
		t.Errorf("status after relay's success: %+v", d.Transports)
	}
}

// subjectOf is the decoded Subject of a received message.
func subjectOf(t *testing.T, r testserver.Received) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("message %d: %v", r.Msg, err)
	}
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("message %d: subject: %v", r.Msg, err)
	}
	return s
}

// TestDelivery_RateLimit: a transport's rate_limit spaces its sends, even
// for a plugin that batches: "1/400ms" lets 5 notifications out over at
// least 1.6s, all of them.
func TestDelivery_RateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path, _ := burstConfig{rules: 5, contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, rateLimit: "1/400ms"}.write(t, listen)
	p := startAgent(t, path, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var at []time.Time
	for n := 1; n <= 5; n++ {
		if _, err := srv.Wait(ctx, n); err != nil {
			t.Fatalf("message %d never arrived: %v\n%s", n, err, p.logText())
		}
		at = append(at, time.Now())
	}
	if span := at[4].Sub(at[0]); span < 1500*time.Millisecond {
		t.Errorf("5 messages within %v; rate_limit 1/400ms spaces them over at least 1.6s", span)
	}
	tl := count(t, srv.Messages())
	if len(tl.ids) != 5 || tl.dups != 0 {
		t.Errorf("%d unique, %d duplicates; want 5, 0", len(tl.ids), tl.dups)
	}
	if d, ok := p.delivery(); !ok || d.Transports["relay"].RateLimit != "1/400ms" {
		t.Errorf("status shows relay as %+v, want rate_limit 1/400ms", d.Transports["relay"])
	}
}
