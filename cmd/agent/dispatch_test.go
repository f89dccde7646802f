package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// These tests run the real agent against the in-process SMTP server and
// test plugins to check the dispatcher's limits: the bytes of a batch,
// the deadline of a send, the backlog after an outage.

// writeConfig writes src (with %LISTEN% replaced) as the agent's config in
// a fresh directory and returns its path.
func writeConfig(t *testing.T, listen, src string) string {
	t.Helper()
	dir := t.TempDir()
	head := fmt.Sprintf("agent {\n  node = \"node-a\"\n  plugin_dir = env(\"TOCSIN_TEST_PLUGIN_DIR\")\n  data_dir = \"data\"\n  listen = %q\n  log_level = \"debug\"\n}\n", listen)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(head+src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// smtpTransport is a transport block for smtp-basic at addr, without TLS.
func smtpTransport(name, addr, extra string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf("transport %q {\n  plugin = \"smtp-basic\"\n  from = \"tocsin@example.com\"\n%s  config {\n    host = %q\n    port = %s\n    security = \"none\"\n    timeout = \"5s\"\n  }\n}\n", name, extra, host, port)
}

// TestDelivery_LargeAttachments: 30 rules each attaching the tail of a
// 400 KB log (256 KiB) are more than gRPC's 4 MiB in one batch; the agent
// splits the batch by bytes and delivers all 30.
func TestDelivery_LargeAttachments(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	logFile := filepath.Join(t.TempDir(), "product.log")
	line := "2026-12-05T18:00:00Z product: something long happened, and then some more of it\n"
	if err := os.WriteFile(logFile, []byte(strings.Repeat(line, 400_000/len(line)+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	var sb strings.Builder
	sb.WriteString(smtpTransport("relay", srv.Addr(), ""))
	sb.WriteString("contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.relay]\n}\n")
	for r := range 30 {
		fmt.Fprintf(&sb, "rule \"r%03d\" {\n  schedule = \"@every 1s\"\n  when = true\n  notify = [contact.ops]\n  subject = \"r%03d\"\n  attach = [%q]\n}\n", r, r, logFile)
	}
	p := startAgent(t, writeConfig(t, listen, sb.String()), listen)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := srv.Wait(ctx, 30); err != nil {
		t.Fatalf("30 messages with attachments: %v; got %d\n%s", err, len(srv.Messages()), tail(p.logText(), 4000))
	}
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 && d.Dead == 0 })
	if d, _ := p.delivery(); d.Retried != 0 || d.FellBack != 0 {
		t.Errorf("%d retries and %d fallbacks, want none:\n%s", d.Retried, d.FellBack, tail(p.logText(), 4000))
	}
	if log := p.logText(); strings.Contains(log, "ResourceExhausted") {
		t.Errorf("the log reports ResourceExhausted:\n%s", tail(log, 4000))
	}
	tl := count(t, srv.Messages())
	if len(tl.ids) != 30 || tl.dups != 0 {
		t.Errorf("%d Message-IDs, %d duplicates; want 30 once each", len(tl.ids), tl.dups)
	}
}

// tail returns the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestDelivery_HangingPluginFallsBack: a plugin that hangs in Send costs
// each attempt send_timeout, counts as a temporary failure with a remedy
// and, past max_age, its notifications go through the next transport of
// the via list.
func TestDelivery_HangingPluginFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	dir := withPlugins(t)
	hang := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent/testdata/hangplugin", "tocsin-plugin-hang")
	if err := os.Symlink(hang, filepath.Join(dir, "tocsin-plugin-hang")); err != nil {
		t.Fatal(err)
	}
	good := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	src := "transport \"hanging\" {\n  plugin = \"hang\"\n  from = \"tocsin@example.com\"\n  send_timeout = \"2s\"\n}\n" +
		smtpTransport("good", good.Addr(), "") +
		"contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.hanging, transport.good]\n}\n" +
		"rule \"r\" {\n  schedule = \"@every 1s\"\n  when = true\n  notify = [contact.ops]\n  subject = \"hung\"\n}\n" +
		"delivery {\n  retry_initial = \"1s\"\n  retry_max = \"2s\"\n  max_age = \"20s\"\n}\n"
	begin := time.Now()
	p := startAgent(t, writeConfig(t, listen, src), listen)

	await(t, 20*time.Second, "a failed attempt on the hanging transport, in /v1/status", func() bool {
		d, ok := p.delivery()
		return ok && d.Retried > 0 && d.Transports["hanging"].Failing != nil
	})
	d, _ := p.delivery()
	if f := d.Transports["hanging"].Failing; !strings.Contains(f.LastError, "send_timeout") {
		t.Errorf("hanging's last error %q does not name send_timeout", f.LastError)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if _, err := good.Wait(ctx, 1); err != nil {
		t.Fatalf("the good transport got nothing: %v\n%s", err, tail(p.logText(), 4000))
	}
	t.Logf("delivered through the good transport %v after start", time.Since(begin).Round(time.Millisecond))
	log := p.logText()
	for _, want := range []string{"notification not sent; retrying", "send_timeout", "trying the next one"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, tail(log, 4000))
		}
	}
}

// TestDelivery_BacklogAfterOutage: with the mail server down, 200
// notifications wait on their backoff; once it is back, the whole backlog
// arrives within seconds of its return, not when each entry's own timer
// says. The outage lasts $TOCSIN_TEST_OUTAGE (a duration; 30s by default,
// the issue measured 60s).
func TestDelivery_BacklogAfterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	outage := 30 * time.Second
	if v := os.Getenv("TOCSIN_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TOCSIN_TEST_OUTAGE: %v", err)
		}
		outage = d
	}
	withPlugins(t)
	first := testserver.StartT(t, testserver.Options{})
	addr := first.Addr()
	first.Close()

	listen := freePort(t)
	path, _ := burstConfig{rules: 200, contacts: 1, transports: map[string]string{"relay": addr}, via: []string{"relay"}}.write(t, listen)
	down := time.Now()
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "200 notifications in the outbox, retried", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending == 200 && d.Retried >= 200
	})
	time.Sleep(time.Until(down.Add(outage)))
	srv := testserver.StartT(t, testserver.Options{Addr: addr})
	back := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := srv.Wait(ctx, 200); err != nil {
		t.Fatalf("200 messages after the server came back: %v; got %d", err, len(srv.Messages()))
	}
	took := time.Since(back)
	t.Logf("server down %v; the last of 200 arrived %v after its return", outage, took.Round(time.Millisecond))
	tl := count(t, srv.Messages())
	if len(tl.ids) != 200 || tl.dups != 0 {
		t.Errorf("%d Message-IDs, %d duplicates; want 200 once each", len(tl.ids), tl.dups)
	}
	// The target is 10s; the bound leaves room for a busy machine.
	if took > 20*time.Second {
		t.Errorf("the backlog took %v after the server's return, want about 10s at most", took)
	}
}
