package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// testMailAgentConfig: relay logs in with the password of a secret file
// and has test_to; other has neither; a rule reads relay's test mail
// from the outbox fact and tells pager through other.
const testMailAgentConfig = `agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
  listen     = %q
}
transport "relay" {
  plugin  = "smtp-basic"
  from    = "tocsin@example.com"
  test_to = ["ops@example.com"]
  config {
    host                = %q
    port                = %d
    security            = "none"
    username            = "tocsin"
    password            = file("relay.secret")
    allow_insecure_auth = true
  }
}
transport "other" {
  plugin = "smtp-basic"
  from   = "tocsin@example.net"
  config {
    host     = %q
    port     = %d
    security = "none"
  }
}
contact "pager" {
  email = ["pager@example.net"]
  via   = [transport.other]
}
rule "relay_test_failed" {
  schedule = "@every 1s"
  when     = try(outbox.tests.relay.state == "failed", false)
  notify   = [contact.pager]
  subject  = "relay test failed: ${outbox.tests.relay.error}"
}
`

// TestRun_TestMail: with the real binary and plugin processes, a test
// mail refused by the server is in /metrics and read by a rule, which
// tells another contact through another transport; a SIGHUP after the
// password (a secret file the configuration reads) changed sends exactly
// one test mail, through the relay; a SIGHUP that changes nothing sends
// none; the record in data_dir holds no password.
func TestRun_TestMail(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	const right, wrong = "PLANTED-right-secret", "PLANTED-wrong-secret"
	relay := testserver.StartT(t, testserver.Options{Users: map[string]string{"tocsin": right}, AllowInsecureAuth: true})
	other := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	secret := filepath.Join(dir, "relay.secret")
	if err := os.WriteFile(secret, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	path := filepath.Join(dir, "agent.hcl")
	src := fmt.Sprintf(testMailAgentConfig, listen, relay.Host(), relay.Port(), other.Host(), other.Port())
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, path, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The refused test mail: the rule's mail through the other transport,
	// /metrics, the log.
	got, err := other.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("no mail through the other transport: %v\n%s", err, p.logText())
	}
	if s := subjectOf(t, got[0]); !strings.Contains(s, "relay test failed: permanent error 535") {
		t.Errorf("the rule's mail says %q", s)
	}
	if v := p.metric(t, `tocsin_transport_test_ok{transport="relay"}`); v != 0 {
		t.Errorf("tocsin_transport_test_ok{relay} = %v, want 0", v)
	}
	if v := p.metric(t, `tocsin_transport_test_mails_total{result="failed",transport="relay"}`); v != 1 {
		t.Errorf("failed test mails = %v, want 1", v)
	}
	if log := p.logText(); !strings.Contains(log, "the test mail through the transport failed for good") {
		t.Errorf("the log does not say the test mail failed:\n%s", log)
	}

	// The password changes in the secret file: one test mail, delivered.
	if err := os.WriteFile(secret, []byte(right), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.Wait(ctx, 1); err != nil {
		t.Fatalf("no test mail after the password changed: %v\n%s", err, p.logText())
	}
	await(t, 30*time.Second, "the test passed", func() bool {
		d, ok := p.delivery()
		return ok && d.Transports["relay"].Test != nil && d.Transports["relay"].Test.State == "passed"
	})
	if v := p.metric(t, `tocsin_transport_test_ok{transport="relay"}`); v != 1 {
		t.Errorf("tocsin_transport_test_ok{relay} = %v, want 1", v)
	}

	// A SIGHUP that changes nothing sends none.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await(t, 30*time.Second, "the second reload", func() bool { return strings.Count(p.logText(), "configuration reloaded") >= 2 })
	time.Sleep(time.Second) // a test mail would be on its way by now
	if n := len(relay.Messages()); n != 1 {
		t.Errorf("the relay received %d mails; want the one test mail", n)
	}
	if n := strings.Count(p.logText(), "queued a test mail through the transport"); n != 2 {
		t.Errorf("%d test mails enqueued; want 2 (the refused one, the one after the change)", n)
	}
	if d, ok := p.delivery(); !ok || d.Transports["other"].Test != nil {
		t.Errorf("other, without test_to, has a test: %+v", d.Transports["other"].Test)
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", agent.TestStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("PLANTED")) {
		t.Errorf("%s holds a password:\n%s", agent.TestStateFile, b)
	}
}
