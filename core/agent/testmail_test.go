package agent

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// The relay's passwords: the server takes the good one only. Both are
// planted: neither may reach the record of passed tests.
const (
	goodRelayPassword  = "PLANTED-good-relay-password"
	wrongRelayPassword = "PLANTED-wrong-relay-password"
)

// testMailConfig has two transports to real SMTP servers: relay (with a
// login and test_to) and other (no login, no test_to), and a rule that
// reads relay's test mail from the outbox fact and tells another contact
// through the other transport.
const testMailConfig = `
agent {
  node     = "node-1"
  data_dir = "%DATA%"
  listen   = "127.0.0.1:0"
}
delivery {
  retry_initial = "100ms"
  retry_max     = "200ms"
}
transport "relay" {
  plugin  = "smtp-basic"
  from    = "tocsin@example.com"
  %TESTTO%
  config {
    host                = "127.0.0.1"
    port                = %RELAY%
    security            = "none"
    username            = "tocsin"
    password            = env("RELAY_PASSWORD")
    allow_insecure_auth = true
  }
}
transport "other" {
  plugin = "smtp-basic"
  from   = "tocsin@example.net"
  config {
    host     = "127.0.0.1"
    port     = %OTHER%
    security = "none"
  }
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
contact "pager" {
  email = ["pager@example.net"]
  via   = [transport.other]
}
rule "relay_test_failed" {
  schedule = "@every 1s"
  when     = try(outbox.tests.relay.state == "failed", false)
  notify   = [contact.pager]
  subject  = "relay test failed"
  text     = "${outbox.tests.relay.error} (${outbox.tests.relay.reason})"
}
`

// testMailRig is an agent whose transports run smtp-basic in process
// against two real SMTP servers.
type testMailRig struct {
	relay, other *testserver.Server
	dir, data    string
	a            *Agent
	logs         *syncBuffer
}

func newTestMailRig(t *testing.T) *testMailRig {
	t.Helper()
	r := &testMailRig{
		relay: testserver.StartT(t, testserver.Options{Users: map[string]string{"tocsin": goodRelayPassword}, AllowInsecureAuth: true}),
		other: testserver.StartT(t, testserver.Options{}),
		dir:   t.TempDir(),
	}
	r.data = filepath.Join(r.dir, "data")
	if err := os.Mkdir(r.data, 0o700); err != nil {
		t.Fatal(err)
	}
	return r
}

// config writes and loads the configuration with password as the
// relay's, and test_to on the relay unless noTestTo.
func (r *testMailRig) config(t *testing.T, password string, noTestTo bool) *config.Config {
	t.Helper()
	t.Setenv("RELAY_PASSWORD", password)
	testTo := `test_to = ["ops@example.com", "Second <second@example.com>"]`
	if noTestTo {
		testTo = ""
	}
	src := strings.NewReplacer("%DATA%", r.data, "%TESTTO%", testTo,
		"%RELAY%", strconv.Itoa(r.relay.Port()), "%OTHER%", strconv.Itoa(r.other.Port())).Replace(testMailConfig)
	path := filepath.Join(r.dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// startSMTP starts smtp-basic in process for tc, as a plugin process
// would: its schema decodes tc's config block, then it takes the
// settings.
func startSMTP(ctx context.Context, _ *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics) {
	p := basic.New("test")
	desc, err := p.Describe(ctx)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}
	}
	if diags := tc.DecodeSettings(desc.Schema); diags.HasErrors() {
		return nil, diags
	}
	pd, err := p.Configure(ctx, sdk.Config{Transport: tc.Name, From: tc.From, Settings: tc.Settings})
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}
	}
	if diags := tc.PluginDiagnostics(tc.Plugin, pd); diags.HasErrors() {
		return nil, diags
	}
	return &startedTransport{t: &Transport{Config: tc, Plugin: p, Description: desc}, stop: func() { _ = p.Close() }}, nil
}

// start starts the agent on cfg; stop stops it.
func (r *testMailRig) start(t *testing.T, cfg *config.Config) {
	t.Helper()
	r.logs = &syncBuffer{}
	a, diags := start(context.Background(), &Agent{cfg: cfg, now: time.Now, starter: startSMTP,
		logger: hclog.New(&hclog.LoggerOptions{Output: r.logs, Level: hclog.Info})})
	if a == nil || diags.HasErrors() {
		t.Fatalf("the agent did not start: %v", diags)
	}
	r.a = a
	t.Cleanup(func() { r.stop(t) })
}

func (r *testMailRig) stop(t *testing.T) {
	t.Helper()
	if r.a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.a.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	r.a = nil
}

func (r *testMailRig) reload(t *testing.T, cfg *config.Config) {
	t.Helper()
	if diags := r.a.Reload(context.Background(), cfg); diags.HasErrors() {
		t.Fatalf("reload: %v", diags)
	}
}

// testMails returns the test mails a server accepted.
func testMails(s *testserver.Server) []testserver.Received {
	var out []testserver.Received
	for _, m := range s.Messages() {
		if bytes.Contains(m.Data, []byte("Subject: Tocsin test mail")) {
			out = append(out, m)
		}
	}
	return out
}

// enqueued counts the test mails the agent enqueued since its start.
func (r *testMailRig) enqueued() int {
	return strings.Count(r.logs.String(), "queued a test mail through the transport")
}

// test returns relay's test as the outbox fact has it.
func (r *testMailRig) test() (rules.TransportTest, bool) {
	t, ok := r.a.outboxFact().Tests["relay"]
	return t, ok
}

// waitState waits until relay's test is in state (a hang guard).
func (r *testMailRig) waitState(t *testing.T, state string) rules.TransportTest {
	t.Helper()
	var last rules.TransportTest
	waitFor(t, "relay's test "+state, func() bool {
		var ok bool
		last, ok = r.test()
		return ok && last.State == state
	})
	return last
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// scrape returns what /metrics serves.
func (r *testMailRig) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.a.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// settle waits until the outbox is empty (of pending entries) and the
// dispatcher has had time to send what it would.
func (r *testMailRig) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "an empty outbox", func() bool {
		st, err := r.a.outbox.Stats()
		return err == nil && st.Pending == 0
	})
}

// TestAgent_TestMail: the acceptance of issue 18 part 2 against real SMTP
// servers, step by step: a refused test mail is loud (log, /metrics, the
// outbox fact, a rule that tells another contact through another
// transport) and is sent again at the next reload; a reload that changes
// the password sends exactly one test mail; a reload or a restart that
// changes nothing sends none; the other transport, without test_to,
// sends none; the record in data_dir holds no password.
func TestAgent_TestMail(t *testing.T) {
	r := newTestMailRig(t)

	// 1. The start with a wrong password: the test mail is refused.
	r.start(t, r.config(t, wrongRelayPassword, false))
	failed := r.waitState(t, rules.TestFailed)
	if !strings.Contains(failed.Error, "535") || failed.Reason != "first test" || failed.Attempts != 1 {
		t.Errorf("relay's test = %+v; want failed with the server's 535, first test, 1 attempt", failed)
	}
	waitFor(t, "the rule's mail through the other transport", func() bool { return len(r.other.Messages()) > 0 })
	alert := r.other.Messages()[0]
	if !bytes.Contains(alert.Data, []byte("Subject: relay test failed")) || alert.To[0] != "pager@example.net" || !bytes.Contains(alert.Data, []byte("535")) {
		t.Errorf("the rule's mail:\n%s", alert.Data)
	}
	m := r.scrape(t)
	for _, want := range []string{`tocsin_transport_test_ok{transport="relay"} 0`, `tocsin_transport_test_mails_total{result="failed",transport="relay"} 1`, `tocsin_transport_test_mails_total{result="sent",transport="relay"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "transport_test"))
		}
	}
	if strings.Contains(m, `transport="other"`) && strings.Contains(grepLines(m, "transport_test"), `transport="other"`) {
		t.Errorf("/metrics has a test of other, which has no test_to:\n%s", grepLines(m, "transport_test"))
	}
	if l := r.logs.String(); !strings.Contains(l, "the test mail through the transport failed for good") || !strings.Contains(l, "remedy=") {
		t.Errorf("the log does not say the test failed, with the remedy:\n%s", grepLines(l, "test mail"))
	}
	if n := len(testMails(r.relay)); n != 0 {
		t.Fatalf("the relay accepted %d test mails with a wrong password", n)
	}
	if st := r.a.deliveryStatus().Transports["relay"].Test; st == nil || st.State != rules.TestFailed || !strings.Contains(st.Error, "535") {
		t.Errorf("/v1/status: relay's test = %+v; want failed with the 535", st)
	}

	// 2. A reload that changes nothing tests again: the last test failed.
	r.reload(t, r.config(t, wrongRelayPassword, false))
	if n := r.enqueued(); n != 2 {
		t.Errorf("%d test mails enqueued after a reload following a failed test; want 2", n)
	}
	again := r.waitState(t, rules.TestFailed)
	if again.Reason != "last test failed" {
		t.Errorf("relay's test = %+v; want failed again, reason last test failed", again)
	}

	// 3. A reload that changes the password: exactly one test mail, which
	// passes.
	r.reload(t, r.config(t, goodRelayPassword, false))
	if n := r.enqueued(); n != 3 {
		t.Errorf("%d test mails enqueued after the password changed; want 3", n)
	}
	passed := r.waitState(t, rules.TestPassed)
	r.settle(t)
	got := testMails(r.relay)
	if len(got) != 1 {
		t.Fatalf("the relay accepted %d test mails; want 1", len(got))
	}
	tm := got[0]
	for _, want := range []string{"Subject: Tocsin test mail: transport relay on node-1 (settings changed)", "X-Tocsin-Test: relay", "Node: node-1", "Transport: relay"} {
		if !bytes.Contains(tm.Data, []byte(want)) {
			t.Errorf("the test mail lacks %q:\n%s", want, tm.Data)
		}
	}
	if strings.Join(tm.To, ",") != "ops@example.com,second@example.com" || tm.From != "tocsin@example.com" {
		t.Errorf("the test mail went from %s to %v; want from the relay's sender to its test_to", tm.From, tm.To)
	}
	if !passed.At.After(failed.At) {
		t.Errorf("passed at %v, before it failed at %v", passed.At, failed.At)
	}
	m = r.scrape(t)
	for _, want := range []string{`tocsin_transport_test_ok{transport="relay"} 1`, `tocsin_transport_test_mails_total{result="sent",transport="relay"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "transport_test"))
		}
	}
	st, err := r.a.outbox.Stats()
	if err != nil || st.Dead != 0 {
		t.Errorf("outbox %+v, %v: the failed test mails were not dropped for the new one", st, err)
	}

	// 4. A reload that changes nothing sends none.
	r.reload(t, r.config(t, goodRelayPassword, false))
	if n := r.enqueued(); n != 3 {
		t.Errorf("a reload that changes nothing enqueued a test mail (%d in all)", n)
	}

	// 5. Nor does a restart.
	r.stop(t)
	r.start(t, r.config(t, goodRelayPassword, false))
	if n := r.enqueued(); n != 0 {
		t.Errorf("a restart with unchanged settings enqueued %d test mails", n)
	}
	if tt, _ := r.test(); tt.State != rules.TestPassed {
		t.Errorf("after the restart relay's test = %+v; want passed", tt)
	}
	r.settle(t)
	if n := len(testMails(r.relay)); n != 1 {
		t.Errorf("the relay accepted %d test mails in all; want 1", n)
	}
	if n := len(testMails(r.other)); n != 0 {
		t.Errorf("other, without test_to, sent %d test mails", n)
	}

	// The record holds no secret.
	b, err := os.ReadFile(filepath.Join(r.data, TestStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("PLANTED")) || bytes.Contains(b, []byte(goodRelayPassword)) || !bytes.Contains(b, []byte(`"relay"`)) {
		t.Errorf("%s:\n%s", TestStateFile, b)
	}
	for _, name := range []string{TestStateFile, TestKeyFile} {
		fi, err := os.Stat(filepath.Join(r.data, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", name, fi.Mode(), err)
		}
	}
}

// TestAgent_TestMailWithoutTestTo: a transport without test_to sends no
// test mail, at the start nor at a reload that changes its password, and
// has no test in the outbox fact or /metrics.
func TestAgent_TestMailWithoutTestTo(t *testing.T) {
	r := newTestMailRig(t)
	r.start(t, r.config(t, goodRelayPassword, true))
	r.reload(t, r.config(t, wrongRelayPassword, true))
	r.reload(t, r.config(t, goodRelayPassword, true))
	r.settle(t)
	if n := r.enqueued(); n != 0 {
		t.Errorf("%d test mails enqueued without test_to", n)
	}
	if n := len(testMails(r.relay)) + len(testMails(r.other)); n != 0 {
		t.Errorf("%d test mails sent without test_to", n)
	}
	if tests := r.a.outboxFact().Tests; len(tests) != 0 {
		t.Errorf("outbox.tests = %v; want none", tests)
	}
	if m := r.scrape(t); strings.Contains(m, "tocsin_transport_test_ok{") {
		t.Errorf("/metrics has a test:\n%s", grepLines(m, "transport_test"))
	}
}

// TestAgent_TestMailRestartRetriesFailed: a test mail that failed is sent
// again at the next start, with the same settings; one that passed with
// other settings does not count.
func TestAgent_TestMailRestartRetriesFailed(t *testing.T) {
	r := newTestMailRig(t)
	r.start(t, r.config(t, goodRelayPassword, false))
	r.waitState(t, rules.TestPassed)
	r.reload(t, r.config(t, wrongRelayPassword, false))
	if f := r.waitState(t, rules.TestFailed); f.Reason != "settings changed" {
		t.Errorf("relay's test = %+v; want failed, settings changed", f)
	}
	r.stop(t)
	r.start(t, r.config(t, wrongRelayPassword, false))
	if n := r.enqueued(); n != 1 {
		t.Errorf("%d test mails enqueued at the restart after a failed test; want 1", n)
	}
	if f := r.waitState(t, rules.TestFailed); f.Reason != "settings changed" {
		t.Errorf("relay's test = %+v; want failed again, settings changed (the passed ones differ)", f)
	}
	if n := len(testMails(r.relay)); n != 1 {
		t.Errorf("the relay accepted %d test mails; want the first one only", n)
	}
}

// TestTransportTests_sum: the HMAC of a transport's effective settings
// changes with each of them (the plugin, its path and pin, the sender,
// a setting's resolved value, a new stored login) and with the key, and
// not with a rotation of the stored refresh token.
func TestTransportTests_sum(t *testing.T) {
	data := t.TempDir()
	store := NewTokenStore(config.Agent{DataDir: data})
	tt := newTransportTests(data, time.Now, hclog.NewNullLogger())
	base := func() *config.Transport {
		s, err := sdk.SettingsFromMap(map[string]any{"host": "mail.example.com", "password": "PLANTED-one"})
		if err != nil {
			t.Fatal(err)
		}
		return &config.Transport{Name: "relay", Plugin: "smtp-basic", From: "tocsin@example.com", Settings: s}
	}
	sum := func(tc *config.Transport) string {
		t.Helper()
		tt.mu.Lock()
		defer tt.mu.Unlock()
		if err := tt.load(); err != nil {
			t.Fatal(err)
		}
		s, err := tt.sum(tc, store)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	was := sum(base())
	if again := sum(base()); again != was {
		t.Fatalf("the same settings: %s, then %s", was, again)
	}
	for _, c := range []struct {
		name   string
		change func(tc *config.Transport)
	}{
		{"plugin", func(tc *config.Transport) { tc.Plugin = "smtp-oauth-ms" }},
		{"path", func(tc *config.Transport) { tc.Path = "/opt/tocsin-plugin-smtp-basic" }},
		{"sha256", func(tc *config.Transport) { tc.SHA256 = strings.Repeat("ab", 32) }},
		{"from", func(tc *config.Transport) { tc.From = "other@example.com" }},
		{"password", func(tc *config.Transport) {
			tc.Settings, _ = sdk.SettingsFromMap(map[string]any{"host": "mail.example.com", "password": "PLANTED-two"})
		}},
	} {
		tc := base()
		c.change(tc)
		if sum(tc) == was {
			t.Errorf("a change of %s leaves the HMAC as it was", c.name)
		}
	}

	// A stored login counts, by who it is; its rotations do not.
	obtained := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := store.Put(tokenstore.Entry{Transport: "relay", RefreshToken: "rt-1", Account: "alerts@example.com", ObtainedAt: obtained}); err != nil {
		t.Fatal(err)
	}
	login := sum(base())
	if login == was {
		t.Error("a stored login leaves the HMAC as it was")
	}
	if _, err := store.Credential("relay"); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveCredential("relay", "rt-2"); err != nil {
		t.Fatal(err)
	}
	if sum(base()) != login {
		t.Error("a rotated refresh token changes the HMAC: every start after a rotation would send a test mail")
	}
	if err := store.Put(tokenstore.Entry{Transport: "relay", RefreshToken: "rt-3", Account: "alerts@example.com", ObtainedAt: obtained.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if sum(base()) == login {
		t.Error("a new tocsin oauth login leaves the HMAC as it was")
	}

	// Another key, another HMAC: the key makes it.
	other := newTransportTests(t.TempDir(), time.Now, hclog.NewNullLogger())
	other.mu.Lock()
	defer other.mu.Unlock()
	if err := other.load(); err != nil {
		t.Fatal(err)
	}
	if s, _ := other.sum(base(), nil); s == was {
		t.Error("two keys give the same HMAC")
	}
}

// TestAgent_TestMailOnceStarted: a transport with test_to that failed to
// start sends its test mail once it comes up, through itself; /v1/status
// shows the test of each transport that has one.
func TestAgent_TestMailOnceStarted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	src := strings.Replace(twoTransports, `from   = "%FROM%"`, `from   = "late@example.com"
  test_to = ["ops@example.com"]`, 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fs, ft := newFakeStarter(), newFakeTimers()
	late := accepts("250 ok")
	fs.plugins["broken"] = late
	fs.setBroken("broken", true)
	a, _ := startFake(t, cfg, fs, ft)
	if a == nil {
		t.Fatal("the agent did not start")
	}
	if tests := a.outboxFact().Tests; len(tests) != 0 {
		t.Errorf("outbox.tests = %v before the transport started; want none", tests)
	}
	<-fs.tried
	<-fs.tried
	ft.next(t)
	fs.setBroken("broken", false)
	ft.fire()
	waitFor(t, "the test mail through broken", func() bool {
		for _, m := range late.messages() {
			if strings.HasPrefix(m.Subject, "Tocsin test mail: transport broken on node-1 (first test)") {
				return true
			}
		}
		return false
	})
	waitFor(t, "the test passed", func() bool {
		st := a.deliveryStatus().Transports
		return st["broken"].Test != nil && st["broken"].Test.State == rules.TestPassed
	})
	if st := a.deliveryStatus().Transports["good"]; st.Test != nil {
		t.Errorf("good, without test_to, has a test in /v1/status: %+v", st.Test)
	}
	if n := len(late.messages()); n != 1 {
		t.Errorf("broken sent %d messages; want its test mail only", n)
	}
}

// TestAgent_TestMailTemporaryFailure: a test mail the server defers
// (451) is failed in the outbox fact, with the server's reply, until the
// outbox's retry delivers it; then it passed, with no reload.
func TestAgent_TestMailTemporaryFailure(t *testing.T) {
	r := newTestMailRig(t)
	r.relay.SetFault(func(stage testserver.Stage, _, msg int) *smtp.SMTPError {
		if stage == testserver.StageMail && msg == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	r.start(t, r.config(t, goodRelayPassword, false))
	waitFor(t, "the deferred attempt", func() bool {
		return strings.Contains(r.logs.String(), "the test mail through the transport failed; it is retried")
	})
	passed := r.waitState(t, rules.TestPassed)
	if passed.Attempts != 1 || passed.Reason != "first test" {
		t.Errorf("relay's test = %+v; want passed after 1 failed attempt", passed)
	}
	if n := len(testMails(r.relay)); n != 1 || r.enqueued() != 1 {
		t.Errorf("%d test mails received, %d enqueued; want 1 and 1", n, r.enqueued())
	}
	if m := r.scrape(t); !strings.Contains(m, `tocsin_transport_test_mails_total{result="failed",transport="relay"} 1`) ||
		!strings.Contains(m, `tocsin_transport_test_ok{transport="relay"} 1`) {
		t.Errorf("/metrics:\n%s", grepLines(m, "transport_test"))
	}
}
