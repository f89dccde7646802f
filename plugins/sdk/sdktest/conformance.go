package sdktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Conformance says how [RunConformance] reaches the plugin's target and
// what it must keep secret. Only Target is required.
type Conformance struct {
	// Target starts whatever the transport delivers to (an in-process
	// server from package testserver, an httptest server, a temporary
	// directory) and returns the settings that configure the transport to
	// deliver there, as the agent would decode them from the transport's
	// config block: strings, numbers (int or float64), bools, []string,
	// and durations as strings such as "10s".
	//
	// received returns the raw RFC 5322 messages the target accepted so
	// far, oldest first. The kit calls it repeatedly, from subtests, until
	// the messages it sent show up or Timeout passes; it must be safe to
	// call at any time and must not call t.Fatal (return what there is).
	//
	// Target is called once, with the *testing.T of the RunConformance
	// call, so a t.Cleanup it registers runs when all checks are done.
	// Required.
	Target func(t *testing.T) (settings map[string]any, received func() [][]byte)

	// Secrets lists values in the settings that must never appear in the
	// plugin's log output, in any error (text, code, reply or remedy),
	// diagnostic, receipt or description: passwords, tokens, client
	// secrets. Use long, distinctive values; a short one matches by
	// accident. Besides these, the kit plants a fresh value in every
	// setting the schema marks Sensitive, sends with it, and checks for it
	// in the same places.
	Secrets []string

	// From is the sender of the test messages and the Config.From the
	// transport is configured with. Default "tocsin@example.com".
	From string

	// Timeout bounds each call to the plugin and the wait for the target
	// to receive what was sent. Default 30s.
	Timeout time.Duration

	// CancelWithin is how soon Send must return once its context is
	// cancelled. Default 5s.
	CancelWithin time.Duration

	// Credential is handed to Configure as Config.Credential, for a
	// transport that signs in with `tocsin oauth login` (a refresh token
	// the target's provider stand-in issued). When the transport saves a
	// new one (a rotation), later Configure calls get that, as from the
	// agent. Every credential is checked like Secrets.
	Credential string
}

// Defaults for the optional fields of [Conformance].
const (
	DefaultConformanceFrom         = "tocsin@example.com"
	DefaultConformanceTimeout      = 30 * time.Second
	DefaultConformanceCancelWithin = 5 * time.Second
)

// RunConformance runs the checks every transport plugin must pass, each as
// a subtest of t. factory returns a new, unconfigured instance of the
// transport each time it is called; the kit serves each instance over a
// real in-process gRPC connection (go-plugin's TestPluginGRPCConn) through
// [sdk.Plugin], the same shim the agent talks to, with a logger whose
// output the kit inspects.
//
// It is a thin adapter over [Run], the runner `tocsin plugin check` uses
// too: each check of the runner is a subtest, each failure a t.Error.
//
// The subtests, in order:
//
//   - handshake: the transport is served and answers Describe.
//   - describe: the name matches ^[a-z0-9][a-z0-9-]*$, the version and a
//     one-line summary are set, the SDK and protocol versions are the
//     SDK's, the schema passes [sdk.Schema.Validate], every attribute has
//     a description and a name HCL can write (^[A-Za-z_][A-Za-z0-9_-]*$),
//     and every attribute whose name contains password, secret, token or
//     key is Sensitive.
//   - configure: Configure with the target's settings returns no error and
//     no error diagnostic, and every diagnostic names an attribute of the
//     schema (or none).
//   - configure-errors: on a fresh instance, Configure with no settings
//     returns error diagnostics (not an error), naming settings of the
//     schema, at least one of them a missing required one. Skipped when
//     the schema requires nothing.
//   - send-before-configure: on a fresh instance, Send (and Check) fail
//     with an error instead of panicking or succeeding, and nothing
//     reaches the target.
//   - empty-batch: Send with no messages returns no results and no error.
//   - batch: three messages (one with an HTML alternative and an
//     attachment) give three results in order, with matching MessageIDs
//     and no errors; the target receives each, with the Message-ID header
//     "<ID>", and the HTML part and the attachment arrive intact.
//   - invalid-message: a message that fails [sdk.Message.Validate] (no
//     recipient) between two good ones gets a permanent error of its own
//     while the good ones are delivered, or the whole batch fails with a
//     permanent error; the invalid message never reaches the target.
//   - concurrent-send: three Sends at once all succeed (run the tests with
//     -race to catch data races in the transport).
//   - check: Check succeeds against the target.
//   - error-kinds: skipped here (it needs a target that refuses, which
//     `tocsin plugin check` has): a temporary refusal must give a
//     temporary error, a permanent one a permanent error.
//   - cancelled-context: Send with a cancelled context returns within
//     CancelWithin with an error, or per-message errors, that are
//     temporary, so the agent retries the mail. Because gRPC ends a
//     cancelled call on the agent's side before the plugin sees it, this
//     check calls the configured instance both through the shim and
//     directly.
//   - crash-mid-send: skipped here; with a plugin process (`tocsin plugin
//     check`) the process is killed during a Send, which must then not
//     fail permanently, and the next Send, on the process the host
//     started again, must deliver.
//   - planted-secrets: a fresh instance is configured with the target's
//     settings, except that every setting the schema marks Sensitive gets
//     a planted value, and then checked and sent with. The outcome does
//     not matter; the planted values join opts.Secrets for the next check.
//   - no-secrets: no secret appears in the captured log output, in any
//     error, diagnostic, receipt or description seen above.
//
// A panic in any method of the transport is caught at the shim and
// reported as a failure of the subtest that caused it. A panic in a
// goroutine the transport started still crashes the test binary. Only
// what the transport logs through Config.Logger is inspected; a transport
// that writes to stderr itself is not checked (and should not).
//
// Subtests that need a configured transport are skipped when configure
// fails. When any check fails, the plugin's log output is printed.
//
// A third party's conformance_test.go, for a transport that delivers to
// an SMTP relay (package testserver provides the relay):
//
//	package relay_test
//
//	func TestConformance(t *testing.T) {
//		const password = "conformance-password-8c1e5f"
//		sdktest.RunConformance(t, func() sdk.Transport { return relay.New("test") }, sdktest.Conformance{
//			Target: func(t *testing.T) (map[string]any, func() [][]byte) {
//				srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"alerts": password}, AllowInsecureAuth: true})
//				settings := map[string]any{"host": srv.Host(), "port": srv.Port(), "username": "alerts", "password": password}
//				return settings, func() (raw [][]byte) {
//					for _, m := range srv.Messages() {
//						raw = append(raw, m.Data)
//					}
//					return raw
//				}
//			},
//			Secrets: []string{password},
//		})
//	}
func RunConformance(t *testing.T, factory func() sdk.Transport, opts Conformance) {
	t.Helper()
	if factory == nil {
		t.Fatal("sdktest.RunConformance: factory is nil; pass a function returning a new, unconfigured transport")
	}
	if opts.Target == nil {
		t.Fatal("sdktest.RunConformance: Conformance.Target is required: it starts what the transport delivers to and returns the settings that point the transport at it")
	}
	logs := &Logs{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Trace, Output: logs})
	settings, received := opts.Target(t)
	if received == nil {
		t.Fatal("sdktest.RunConformance: Conformance.Target returned a nil received function; it must return the raw messages the target accepted")
	}
	if settings == nil {
		settings = map[string]any{}
	}
	k := newKit(InProcess(t, factory, logger), Options{
		Settings:     settings,
		Received:     received,
		Secrets:      opts.Secrets,
		From:         opts.From,
		Timeout:      opts.Timeout,
		CancelWithin: opts.CancelWithin,
		Credential:   opts.Credential,
		Logs:         logs.String,
	})
	defer k.close()
	for _, c := range k.checks() {
		t.Run(c.name, func(t *testing.T) {
			r := k.runCheck(t.Context(), c)
			for _, n := range r.Notes {
				t.Log(n)
			}
			switch r.Status {
			case StatusFail:
				for _, why := range r.Why {
					t.Error(why)
				}
			case StatusSkip:
				t.Skip(strings.Join(r.Why, "; "))
			}
		})
	}
	if t.Failed() {
		if logs := logs.String(); logs != "" {
			t.Logf("plugin log output:\n%s", logs)
		} else {
			t.Log("plugin log output: (none)")
		}
	}
}

// InProcess returns a [Subject] that serves each instance from factory
// over a real in-process gRPC connection (go-plugin's
// TestPluginGRPCConn) through [sdk.Plugin], the shim the agent talks
// to, with logger as the transport's Config.Logger. A panic in a method
// of the transport is caught and reported by Faults. Connections close
// when t ends at the latest.
func InProcess(t testing.TB, factory func() sdk.Transport, logger hclog.Logger) Subject {
	return Subject{Connect: func(context.Context) (*Instance, error) {
		impl := factory()
		if impl == nil {
			return nil, errors.New("the factory returned nil; it must return a new transport")
		}
		g := &guard{impl: impl}
		client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
			sdk.PluginName: sdk.Plugin(g, sdk.WithLogger(logger)),
		})
		raw, err := client.Dispense(sdk.PluginName)
		if err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("dispense the transport over gRPC: %w", err)
		}
		tr, ok := raw.(sdk.Transport)
		if !ok {
			_ = client.Close()
			return nil, fmt.Errorf("dispensed %T, not an sdk.Transport", raw)
		}
		return &Instance{
			Transport: tr,
			Direct:    g,
			Faults: func() []string {
				var out []string
				for _, p := range g.take() {
					out = append(out, "the transport panicked; the contract is to return an error instead (a *sdk.DeliveryError from Send and Check, diagnostics from Configure):\n"+p)
				}
				return out
			},
			Close: func() { _ = client.Close() },
		}, nil
	}}
}

// kit holds the state shared by the checks of one run.
type kit struct {
	subject  Subject
	opts     Options
	run      string // random, makes message IDs unique across runs
	noTarget string // why there is no target, when there is none

	settings   map[string]any // nil: no target
	received   func() [][]byte
	c          *conn            // the instance most checks use, once the handshake passed
	desc       *sdk.Description // its description, once describe got one
	configured bool             // Configure with the target's settings succeeded

	mu         sync.Mutex
	seq        int
	secrets    []string
	credential string   // the latest credential, as the agent would store it
	where      []string // names of texts, for NoSecrets
	texts      []string // everything the plugin said, for NoSecrets
	closers    []func() // run by close
}

func newKit(s Subject, opts Options) *kit {
	opts = opts.withDefaults()
	k := &kit{
		subject:    s,
		opts:       opts,
		run:        randomHex(6),
		noTarget:   opts.NoTarget,
		settings:   opts.Settings,
		received:   opts.Received,
		credential: opts.Credential,
	}
	if k.noTarget == "" {
		k.noTarget = "no target: the kit has no settings that point the plugin at something to deliver to"
	}
	k.secrets = append(k.secrets, opts.Secrets...)
	if opts.Credential != "" {
		k.secrets = append(k.secrets, opts.Credential)
	}
	return k
}

// close stops what the run started and kept: the main instance.
func (k *kit) close() {
	k.mu.Lock()
	cl := k.closers
	k.closers = nil
	k.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		cl[i]()
	}
}

// logs returns the plugin's log output so far.
func (k *kit) logs() string {
	if k.opts.Logs == nil {
		return ""
	}
	return k.opts.Logs()
}

// observable reports whether the kit can see what the target received.
func (k *kit) observable() bool { return k.received != nil }

// savedCredential is the agent's SaveCredential: a rotated credential
// is a secret from then on.
func (k *kit) savedCredential(v string) {
	k.mu.Lock()
	k.secrets = append(k.secrets, v)
	k.credential = v
	k.mu.Unlock()
}

// latestCredential is what the agent would hand Configure now.
func (k *kit) latestCredential() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.credential
}

// conn is one transport instance as the agent sees it (agent, over gRPC)
// and, in process, as the plugin holds it (direct).
type conn struct {
	agent  sdk.Transport
	direct sdk.Transport
	faults func() []string
	crash  func() error
	close  func()
}

// open starts a new instance of the transport.
func (k *kit) open(ctx context.Context) (*conn, error) {
	in, err := k.subject.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if in == nil || in.Transport == nil {
		return nil, errors.New("the subject's Connect returned no transport")
	}
	c := &conn{agent: in.Transport, direct: in.Direct, faults: in.Faults, crash: in.Crash, close: in.Close}
	if c.faults == nil {
		c.faults = func() []string { return nil }
	}
	if c.close == nil {
		c.close = func() {}
	}
	return c, nil
}

// connect starts a new instance for one check, stopped when it ends.
func (k *kit) connect(t tb) *conn {
	t.Helper()
	c, err := k.open(t.Context())
	if err != nil {
		t.Fatalf("start another instance of the transport: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

// ctx returns a context for one call, bounded by Timeout.
func (k *kit) ctx(t tb) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), k.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (k *kit) config() (sdk.Config, error) {
	s, err := sdk.SettingsFromMap(k.settings)
	if err != nil {
		return sdk.Config{}, err
	}
	return sdk.Config{Transport: "conformance", From: k.opts.From, Settings: s, Credential: k.latestCredential(), SaveCredential: k.savedCredential}, nil
}

// requireStarted skips a check when the handshake failed.
func (k *kit) requireStarted(t tb) *conn {
	t.Helper()
	if k.c == nil {
		t.Skip("skipped: the plugin did not start (see the handshake check)")
	}
	return k.c
}

func (k *kit) requireConfigured(t tb) *conn {
	t.Helper()
	c := k.requireStarted(t)
	if k.settings == nil {
		t.Skip("skipped: needs a successful delivery; " + k.noTarget)
	}
	if !k.configured {
		t.Skip("skipped: the transport could not be configured with the target's settings (see the configure check)")
	}
	return c
}

// message returns a valid test message with a fresh ID.
func (k *kit) message(label string) *sdk.Message {
	k.mu.Lock()
	k.seq++
	n := k.seq
	k.mu.Unlock()
	from, err := mail.ParseAddress(k.opts.From)
	if err != nil {
		from = &mail.Address{Address: k.opts.From}
	}
	return &sdk.Message{
		ID:      fmt.Sprintf("conformance-%s-%d@tocsin.test", k.run, n),
		Date:    time.Now().Truncate(time.Second),
		From:    *from,
		To:      []sdk.Address{{Name: "Ops", Address: "ops@example.com"}},
		Subject: fmt.Sprintf("Tocsin conformance %s (%d)", label, n),
		Text:    fmt.Sprintf("Conformance test message %d (%s).\n", n, label),
		Headers: []sdk.Header{{Name: "X-Tocsin-Conformance", Value: label}},
	}
}

// Marks in the rich message, looked for in what the target received.
const (
	htmlMark       = "conformance-html-part"
	attachmentName = "conformance.txt"
)

var attachmentData = []byte("conformance attachment\nline 2\n")

// richMessage returns a message with an HTML alternative and an attachment.
func (k *kit) richMessage(label string) *sdk.Message {
	m := k.message(label)
	m.HTML = "<p>" + htmlMark + "</p>"
	m.Cc = []sdk.Address{{Address: "cc@example.com"}}
	m.Attachments = []sdk.Attachment{{Filename: attachmentName, ContentType: "text/plain", Data: attachmentData}}
	return m
}

// record keeps a text the plugin produced, for the no-secrets check.
func (k *kit) record(where, text string) {
	if text == "" {
		return
	}
	k.mu.Lock()
	k.where = append(k.where, where)
	k.texts = append(k.texts, text)
	k.mu.Unlock()
}

func (k *kit) recordErr(where string, err error) {
	if err == nil {
		return
	}
	k.record(where, err.Error())
	var de *sdk.DeliveryError
	if errors.As(err, &de) {
		k.record(where+" (code, reply and remedy)", strings.Join([]string{de.Code, de.Reply, de.Remedy}, "\n"))
	}
}

func (k *kit) recordDiags(where string, diags sdk.Diagnostics) {
	for i, d := range diags {
		k.record(fmt.Sprintf("%s %d", where, i), strings.Join([]string{d.Attribute, d.Summary, d.Detail}, "\n"))
	}
}

func (k *kit) recordResults(where string, results []sdk.Result) {
	for i, r := range results {
		k.record(fmt.Sprintf("%s %d receipt", where, i), r.Receipt)
		k.recordErr(fmt.Sprintf("%s %d error", where, i), r.Err)
	}
}

// checkPanics fails t, and stops it, when the guard caught a panic since
// the last call: what the call returned then says nothing more.
func (k *kit) checkPanics(t tb, c *conn) {
	t.Helper()
	panics := c.faults()
	for _, p := range panics {
		t.Error(p)
	}
	if len(panics) > 0 {
		t.FailNow()
	}
}

func (k *kit) testDescribe(t tb) {
	c := k.requireStarted(t)
	d, err := c.agent.Describe(k.ctx(t))
	k.checkPanics(t, c)
	k.recordErr("Describe error", err)
	if err != nil {
		t.Fatalf("Describe failed: %v; Describe must always succeed, even before Configure, because the agent calls it first to learn the schema", err)
	}
	k.record("Describe answer", fmt.Sprintf("%+v", *d))
	k.desc = d
	if k.opts.SecretSettings {
		k.mu.Lock()
		k.secrets = append(k.secrets, sensitiveValues(d.Schema, k.settings)...)
		k.mu.Unlock()
	}

	if !sdk.ValidPluginName(d.Name) {
		t.Errorf("Description.Name = %q: the name is the NAME of the binary tocsin-plugin-NAME and the plugin = \"NAME\" of a transport block, so it must be lower-case letters, digits and hyphens (sdk.ValidPluginName)", d.Name)
	}
	if strings.TrimSpace(d.Version) == "" {
		t.Error("Description.Version is empty: report the plugin's version, usually a main.version variable set with -ldflags \"-X main.version=...\" (\"dev\" when unset); operators see it in `tocsin plugins`")
	}
	if strings.TrimSpace(d.Summary) == "" || strings.ContainsAny(d.Summary, "\r\n") {
		t.Errorf("Description.Summary = %q: it must be one non-empty line saying what the transport does", d.Summary)
	}
	switch {
	case !k.subject.Process && (d.SDKVersion != sdk.SDKVersion || d.ProtocolVersion != sdk.ProtocolVersion):
		t.Errorf("Description SDKVersion = %q, ProtocolVersion = %d; want %q and %d, which the SDK's shim fills in: serve the transport with sdk.Serve or sdk.Plugin", d.SDKVersion, d.ProtocolVersion, sdk.SDKVersion, sdk.ProtocolVersion)
	case d.ProtocolVersion != sdk.ProtocolVersion:
		t.Errorf("Description ProtocolVersion = %d, but the plugin was started with protocol %d: report the version the handshake negotiated (the SDK's shim fills it in)", d.ProtocolVersion, sdk.ProtocolVersion)
	case strings.TrimSpace(d.SDKVersion) == "":
		t.Error("Description SDKVersion is empty: report the version of the SDK (or, outside Go, of the protocol implementation) the plugin is built with; operators see it in `tocsin plugins`")
	case d.SDKVersion != sdk.SDKVersion:
		t.Logf("the plugin reports SDK %s; this kit is SDK %s (protocol %d for both)", d.SDKVersion, sdk.SDKVersion, sdk.ProtocolVersion)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("Description.Schema is not usable by the agent: %v", err)
	}
	for _, a := range d.Schema {
		if !sdk.ValidAttributeName(a.Name) {
			t.Errorf("attribute %q: an operator cannot write this name in a config block; use letters, digits, _ and - (sdk.ValidAttributeName; snake_case is the convention)", a.Name)
		}
		if strings.TrimSpace(a.Description) == "" {
			t.Errorf("attribute %q has no Description: every setting needs one; it is the plugin's documentation and `tocsin validate` shows it", a.Name)
		}
		if sdk.LooksSensitive(a.Name) && !a.Sensitive {
			t.Errorf("attribute %q looks like a secret by its name (sdk.SensitiveWords) but is not Sensitive: mark it Sensitive: true so the agent never prints its value (the agent's config renderer hides such names anyway, and the schema must agree)", a.Name)
		}
	}
}

func (k *kit) testConfigure(t tb) {
	c := k.requireStarted(t)
	if k.settings == nil {
		t.Skip("skipped: " + k.noTarget)
	}
	cfg, err := k.config()
	if err != nil {
		t.Fatalf("Conformance.Target returned settings that cannot be encoded as JSON: %v", err)
	}
	diags, err := c.agent.Configure(k.ctx(t), cfg)
	k.checkPanics(t, c)
	k.recordErr("Configure error", err)
	k.recordDiags("Configure diagnostic", diags)
	if err != nil {
		t.Fatalf("Configure with the target's settings failed: %v; a problem with a setting belongs in a diagnostic naming the attribute, and these settings should have none", err)
	}
	if d, derr := c.agent.Describe(k.ctx(t)); derr == nil {
		for _, x := range diags {
			if _, ok := d.Schema.Lookup(x.Attribute); x.Attribute != "" && !ok {
				t.Errorf("diagnostic %q names attribute %q, which is not in the schema: Attribute must be a setting's name (so the agent can point at its line) or empty", x.Summary, x.Attribute)
			}
		}
	}
	for _, x := range diags {
		if x.Severity == sdk.SeverityWarning {
			t.Logf("warning for %q: %s: %s", x.Attribute, x.Summary, x.Detail)
		}
	}
	if diags.HasErrors() {
		t.Fatalf("Configure with the target's settings returned error diagnostics: %v", diags.Err())
	}
	k.configured = true
}

func (k *kit) testSendBeforeConfigure(t tb) {
	k.requireStarted(t)
	c := k.connect(t)
	m := k.message("send before configure")
	results, err := c.agent.Send(k.ctx(t), []*sdk.Message{m})
	k.checkPanics(t, c)
	k.recordErr("unconfigured Send error", err)
	k.recordResults("unconfigured Send result", results)
	if err == nil {
		for i, r := range results {
			if r.Err == nil {
				t.Errorf("Send on a transport that was never configured accepted message %d (receipt %q): it must fail, with a permanent error telling the operator to fix the transport's settings", i, r.Receipt)
			}
		}
	}
	if _, ok := k.find(m.ID); ok {
		t.Errorf("a transport that was never configured delivered message %s to the target", m.ID)
	}

	err = c.agent.Check(k.ctx(t))
	k.checkPanics(t, c)
	k.recordErr("unconfigured Check error", err)
	if err == nil {
		t.Error("Check on a transport that was never configured succeeded: it must fail, because it cannot know where to deliver")
	}
}

func (k *kit) testEmptyBatch(t tb) {
	c := k.requireConfigured(t)
	results, err := c.agent.Send(k.ctx(t), nil)
	k.checkPanics(t, c)
	k.recordErr("empty Send error", err)
	k.recordResults("empty Send result", results)
	if err != nil {
		t.Fatalf("Send with no messages failed: %s; it must return no results and no error, and send nothing (the agent sends an empty batch to get a transport ready: a plugin may connect and log in)", explain(err))
	}
	if len(results) != 0 {
		t.Errorf("Send with no messages returned %d results, want 0", len(results))
	}
}

func (k *kit) testBatch(t tb) {
	c := k.requireConfigured(t)
	msgs := []*sdk.Message{k.message("batch 1"), k.richMessage("batch 2"), k.message("batch 3")}
	msgs[2].Bcc = []sdk.Address{{Address: "bcc@example.com"}}
	results, err := c.agent.Send(k.ctx(t), msgs)
	k.checkPanics(t, c)
	k.recordErr("batch Send error", err)
	k.recordResults("batch Send result", results)
	if err != nil {
		t.Fatalf("Send of a batch of 3 valid messages failed: %s", explain(err))
	}
	if len(results) != len(msgs) {
		t.Fatalf("Send of 3 messages returned %d results: the contract is one Result per message, in order", len(results))
	}
	ok := true
	for i, r := range results {
		if r.MessageID != msgs[i].ID {
			t.Errorf("result %d has MessageID %q, want %q: results must be in the order of the messages and carry their ID", i, r.MessageID, msgs[i].ID)
		}
		if r.Err != nil {
			ok = false
			t.Errorf("message %d (%s) failed: %s", i, msgs[i].ID, explain(r.Err))
		}
	}
	if !ok {
		return
	}
	if !k.observable() {
		t.Log("delivery not verified: the kit cannot see what the target received")
		return
	}
	got := k.wait(t, ids(msgs))
	for _, m := range msgs {
		if _, found := got[m.ID]; !found {
			t.Errorf("Send reported message %s delivered, but the target did not receive a message with Message-ID <%s> within %v; the raw message must carry the message's ID as its Message-ID header (sdk.Message.Build and WriteTo do that)", m.ID, m.ID, k.opts.Timeout)
		}
	}
	if raw, found := got[msgs[1].ID]; found {
		if messageID(raw) == "" {
			// A webhook's JSON, say: it carries the ID, but no MIME.
			t.Log("the target received something other than a mail, with the message's ID in it; the HTML part and the attachment are not checked")
			return
		}
		checkRich(t, raw)
	}
}

// checkRich checks that the HTML alternative and the attachment of the rich
// message arrived intact.
func checkRich(t tb, raw []byte) {
	t.Helper()
	parts, err := mimeParts(raw)
	if err != nil {
		t.Errorf("the message with an HTML part and an attachment did not arrive as valid MIME: %v; build it with sdk.Message.Build, WriteTo or Bytes, never by hand\n%s", err, raw)
		return
	}
	var html, attachment bool
	for _, p := range parts {
		if p.mediaType == "text/html" && bytes.Contains(p.body, []byte(htmlMark)) {
			html = true
		}
		if p.filename == attachmentName && bytes.Equal(bytes.ReplaceAll(p.body, []byte("\r\n"), []byte("\n")), attachmentData) {
			attachment = true
		}
	}
	if !html {
		t.Errorf("the message's HTML alternative did not arrive: the target received no text/html part containing %q", htmlMark)
	}
	if !attachment {
		t.Errorf("the message's attachment did not arrive intact: the target received no part named %q with the attached bytes", attachmentName)
	}
}

func (k *kit) testInvalidMessage(t tb) {
	c := k.requireConfigured(t)
	bad := k.message("invalid")
	bad.To = nil
	msgs := []*sdk.Message{k.message("before invalid"), bad, k.message("after invalid")}
	results, err := c.agent.Send(k.ctx(t), msgs)
	k.checkPanics(t, c)
	k.recordErr("invalid-message Send error", err)
	k.recordResults("invalid-message Send result", results)
	if err != nil {
		if sdk.IsTemporary(err) {
			t.Errorf("a batch holding a message with no recipient failed with a temporary error (%s): retrying cannot fix an invalid message, so the error must be permanent; better, give that message its own permanent error and deliver the others", explain(err))
		}
		return
	}
	if len(results) != len(msgs) {
		t.Fatalf("Send of 3 messages returned %d results: the contract is one Result per message, in order", len(results))
	}
	for i, r := range results {
		if r.MessageID != msgs[i].ID {
			t.Errorf("result %d has MessageID %q, want %q", i, r.MessageID, msgs[i].ID)
		}
	}
	switch r := results[1]; {
	case r.Err == nil:
		t.Errorf("Send accepted message %s, which has no recipient and fails sdk.Message.Validate: it must get a permanent error of its own (call msg.Validate(), or msg.Build(), which validates)", bad.ID)
	case sdk.IsTemporary(r.Err):
		t.Errorf("the message with no recipient got a temporary error (%s): retrying cannot fix it, so the error must be permanent (sdk.PermanentError)", explain(r.Err))
	}
	var good []string
	for _, i := range []int{0, 2} {
		if results[i].Err != nil {
			t.Errorf("valid message %d failed because of the invalid message next to it: %s; a bad message must fail alone", i, explain(results[i].Err))
			continue
		}
		good = append(good, msgs[i].ID)
	}
	if !k.observable() {
		t.Log("delivery not verified: the kit cannot see what the target received")
		return
	}
	got := k.wait(t, good)
	for _, id := range good {
		if _, found := got[id]; !found {
			t.Errorf("valid message %s was reported delivered but did not reach the target", id)
		}
	}
	if _, found := k.find(bad.ID); found {
		t.Errorf("the message with no recipient reached the target; the transport must not deliver a message that fails Validate")
	}
}

func (k *kit) testConcurrentSend(t tb) {
	c := k.requireConfigured(t)
	const n = 3
	msgs := make([]*sdk.Message, n)
	for i := range msgs {
		msgs[i] = k.message(fmt.Sprintf("concurrent %d", i+1))
	}
	ctx := k.ctx(t)
	type outcome struct {
		results []sdk.Result
		err     error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() {
			r, err := c.agent.Send(ctx, msgs[i:i+1])
			out[i] = outcome{r, err}
		})
	}
	wg.Wait()
	k.checkPanics(t, c)
	var delivered []string
	for i, o := range out {
		k.recordErr("concurrent Send error", o.err)
		k.recordResults("concurrent Send result", o.results)
		switch {
		case o.err != nil:
			t.Errorf("concurrent Send %d failed: %s; the agent may call Send concurrently and each call must work", i, explain(o.err))
		case len(o.results) != 1:
			t.Errorf("concurrent Send %d returned %d results for 1 message", i, len(o.results))
		case o.results[0].Err != nil:
			t.Errorf("concurrent Send %d: message failed: %s; the agent may call Send concurrently and each call must work", i, explain(o.results[0].Err))
		default:
			delivered = append(delivered, msgs[i].ID)
		}
	}
	if !k.observable() {
		t.Log("delivery not verified: the kit cannot see what the target received")
		return
	}
	got := k.wait(t, delivered)
	for _, id := range delivered {
		if _, found := got[id]; !found {
			t.Errorf("message %s, sent concurrently with others, was reported delivered but did not reach the target", id)
		}
	}
}

func (k *kit) testCheck(t tb) {
	c := k.requireConfigured(t)
	err := c.agent.Check(k.ctx(t))
	k.checkPanics(t, c)
	k.recordErr("Check error", err)
	if err != nil {
		t.Errorf("Check against the target failed: %s; Check must succeed whenever Send would", explain(err))
	}
}

func (k *kit) testCancelled(t tb) {
	c := k.requireConfigured(t)
	msgs := []*sdk.Message{k.message("cancelled 1"), k.message("cancelled 2")}

	// The agent's view: gRPC gives up at once on its side.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	results, err := c.agent.Send(ctx, msgs)
	k.checkPanics(t, c)
	k.recordErr("cancelled Send error (agent)", err)
	k.recordResults("cancelled Send result (agent)", results)
	checkCancelled(t, "through the shim", results, err)

	if c.direct == nil {
		// A plugin process sees the cancellation only after gRPC has
		// ended the call: watch it let go of a target that never answers.
		k.cancelAtTarget(t)
		return
	}
	// The plugin's own handling: call the configured instance directly.
	msgs = []*sdk.Message{k.message("cancelled 3"), k.message("cancelled 4")}
	type outcome struct {
		results []sdk.Result
		err     error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		r, err := c.direct.Send(ctx, msgs)
		done <- outcome{r, err}
	}()
	select {
	case o := <-done:
		k.checkPanics(t, c)
		k.recordErr("cancelled Send error", o.err)
		k.recordResults("cancelled Send result", o.results)
		checkCancelled(t, "in the plugin", o.results, o.err)
		if o.err == nil && len(o.results) != len(msgs) {
			t.Errorf("Send with a cancelled context returned %d results for %d messages", len(o.results), len(msgs))
		}
		if d := time.Since(start); d > k.opts.CancelWithin {
			t.Errorf("Send with a cancelled context took %v, more than %v: pass ctx to every network call and check ctx.Err() between messages", d.Round(time.Millisecond), k.opts.CancelWithin)
		}
	case <-time.After(k.opts.CancelWithin):
		t.Errorf("Send with a cancelled context had not returned after %v: pass ctx to every network call and check ctx.Err() between messages, so the agent can stop a stuck delivery", k.opts.CancelWithin)
	}
}

// checkCancelled checks the outcome of a Send whose context was cancelled.
func checkCancelled(t tb, where string, results []sdk.Result, err error) {
	t.Helper()
	if err != nil {
		if !sdk.IsTemporary(err) {
			t.Errorf("Send with a cancelled context (%s) failed with a permanent error (%s): a cancelled delivery may succeed later, so the error must be temporary or the agent drops the mail", where, explain(err))
		}
		return
	}
	if len(results) == 0 {
		t.Errorf("Send with a cancelled context (%s) returned neither an error nor results", where)
	}
	for i, r := range results {
		switch {
		case r.Err == nil:
			t.Errorf("Send with a cancelled context (%s) delivered message %d: check ctx.Err() before each delivery and return a temporary error instead", where, i)
		case !sdk.IsTemporary(r.Err):
			t.Errorf("Send with a cancelled context (%s) gave message %d a permanent error (%s): it must be temporary, so the agent retries", where, i, explain(r.Err))
		}
	}
}

// plantedPrefix starts every planted secret.
const plantedPrefix = "tocsin-planted-"

func (k *kit) testPlantedSecrets(t tb) {
	k.requireStarted(t)
	if k.settings == nil {
		// A planted value needs settings around it: alone it may even
		// be a file's path, which a diagnostic rightly names.
		t.Skip("skipped: needs settings to plant secrets in; " + k.noTarget)
	}
	c := k.connect(t)
	d, err := c.agent.Describe(k.ctx(t))
	k.checkPanics(t, c)
	if err != nil {
		t.Skipf("skipped: Describe failed: %v", err)
	}
	planted := make(map[string]any, len(k.settings))
	var canaries []string
	for name, v := range k.settings {
		planted[name] = v
		a, ok := d.Schema.Lookup(name)
		// Only strings hold secrets: a duration or a number stays as set.
		if !ok || !a.Sensitive || (a.Type != sdk.TypeString && a.Type != sdk.TypeListOfString) {
			continue
		}
		switch v := v.(type) {
		case string:
			s := plantedPrefix + name + "-" + randomHex(8)
			planted[name] = s
			canaries = append(canaries, s)
		case []string:
			l := make([]string, len(v))
			for i := range v {
				l[i] = plantedPrefix + name + "-" + randomHex(8)
			}
			planted[name] = l
			canaries = append(canaries, l...)
		case []any:
			l := make([]any, len(v))
			for i := range v {
				s := plantedPrefix + name + "-" + randomHex(8)
				l[i] = s
				canaries = append(canaries, s)
			}
			planted[name] = l
		}
	}
	if len(canaries) == 0 {
		t.Skip("skipped: the target's settings set no string setting the schema marks Sensitive")
	}
	k.mu.Lock()
	k.secrets = append(k.secrets, canaries...)
	k.mu.Unlock()

	s, err := sdk.SettingsFromMap(planted)
	if err != nil {
		t.Fatalf("encode planted settings: %v", err)
	}
	diags, err := c.agent.Configure(k.ctx(t), sdk.Config{Transport: "conformance-planted", From: k.opts.From, Settings: s, Credential: k.latestCredential(), SaveCredential: k.savedCredential})
	k.checkPanics(t, c)
	k.recordErr("planted Configure error", err)
	k.recordDiags("planted Configure diagnostic", diags)
	if err != nil || diags.HasErrors() {
		return
	}
	checkErr := c.agent.Check(k.ctx(t))
	k.checkPanics(t, c)
	k.recordErr("planted Check error", checkErr)
	results, err := c.agent.Send(k.ctx(t), []*sdk.Message{k.message("planted secrets")})
	k.checkPanics(t, c)
	k.recordErr("planted Send error", err)
	k.recordResults("planted Send result", results)
	if err == nil && len(results) == 1 {
		err = results[0].Err
	}
	t.Logf("with planted values in %d sensitive setting(s): Check: %v; Send: %v", len(canaries), errOrOK(checkErr), errOrOK(err))
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func (k *kit) testNoSecrets(t tb) {
	k.mu.Lock()
	secrets := append([]string(nil), k.secrets...)
	where := append([]string{"the plugin's log output"}, k.where...)
	texts := append([]string{k.logs()}, k.texts...)
	k.mu.Unlock()
	if len(secrets) == 0 {
		t.Skip("skipped: no secrets to look for: none given, and the target's settings set no Sensitive setting")
	}
	for _, l := range leaks(secrets, where, texts...) {
		t.Error(l)
	}
	if t.Failed() {
		t.Log("a secret setting must never be logged, put in an error (text, code, reply or remedy), a diagnostic or a receipt: an operator pastes these into tickets. Name the setting instead of printing its value.")
	}
}

// find reports whether the target has received a message with Message-ID
// <id>, and returns it.
func (k *kit) find(id string) ([]byte, bool) {
	if !k.observable() {
		return nil, false
	}
	for _, raw := range k.received() {
		if carries(raw, id) {
			return raw, true
		}
	}
	return nil, false
}

// carries reports whether raw is the message with ID id: its Message-ID
// header is <id>, or, for a target that does not receive RFC 5322
// messages (a webhook's JSON), the ID appears in it.
func carries(raw []byte, id string) bool {
	if mid := messageID(raw); mid != "" {
		return mid == "<"+id+">"
	}
	return bytes.Contains(raw, []byte(id))
}

// wait polls the target until it has received a message for each of ids or
// Timeout passes, and returns those it found by ID.
func (k *kit) wait(t tb, want []string) map[string][]byte {
	t.Helper()
	got := make(map[string][]byte, len(want))
	deadline := time.Now().Add(k.opts.Timeout)
	for {
		for _, raw := range k.received() {
			for _, id := range want {
				if _, ok := got[id]; !ok && carries(raw, id) {
					got[id] = raw
				}
			}
		}
		if len(got) == len(want) || time.Now().After(deadline) || t.Context().Err() != nil {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(msgs []*sdk.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// messageID returns the Message-ID header of a raw message, or "".
func messageID(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(m.Header.Get("Message-ID"))
}

// explain formats an error with the remedy a DeliveryError carries.
func explain(err error) string {
	var de *sdk.DeliveryError
	if errors.As(err, &de) && de.Remedy != "" {
		return fmt.Sprintf("%v (remedy: %s)", err, de.Remedy)
	}
	return err.Error()
}

// mimePart is one leaf of a MIME tree, its body decoded.
type mimePart struct {
	mediaType string
	filename  string
	body      []byte
}

// mimeParts parses a raw message and returns its leaf parts.
func mimeParts(raw []byte) ([]mimePart, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	return walkPart(textproto.MIMEHeader(m.Header), m.Body, 0)
}

func walkPart(h textproto.MIMEHeader, body io.Reader, depth int) ([]mimePart, error) {
	if depth > 10 {
		return nil, errors.New("MIME nested too deeply")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("parse Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var out []mimePart
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read %s part: %w", mediaType, err)
			}
			sub, err := walkPart(p.Header, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &lineStripper{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decode %s part: %w", mediaType, err)
	}
	name := params["name"]
	if cd := h.Get("Content-Disposition"); cd != "" {
		if _, p, err := mime.ParseMediaType(cd); err == nil && p["filename"] != "" {
			name = p["filename"]
		}
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = dec
	}
	return []mimePart{{mediaType: mediaType, filename: name, body: data}}, nil
}

// lineStripper drops CR and LF, so base64 split into lines decodes.
type lineStripper struct{ r io.Reader }

func (l *lineStripper) Read(p []byte) (int, error) {
	for {
		n, err := l.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// guard stands between the shim and the transport and turns a panic into
// an error, so that one broken method fails its subtest instead of the
// whole test binary.
type guard struct {
	impl sdk.Transport

	mu     sync.Mutex
	panics []string
}

var _ sdk.Transport = (*guard)(nil)

// caught records a recovered panic and returns it as an error, or nil.
func (g *guard) caught(method string, r any) error {
	if r == nil {
		return nil
	}
	g.mu.Lock()
	g.panics = append(g.panics, fmt.Sprintf("%s panicked: %v\n%s", method, r, debug.Stack()))
	g.mu.Unlock()
	return fmt.Errorf("%s panicked: %v", method, r)
}

// take returns the panics recorded since the last call.
func (g *guard) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.panics
	g.panics = nil
	return p
}

func (g *guard) Describe(ctx context.Context) (d *sdk.Description, err error) {
	defer func() {
		if p := g.caught("Describe", recover()); p != nil {
			d, err = nil, p
		}
	}()
	d, err = g.impl.Describe(ctx)
	if d == nil && err == nil {
		err = errors.New("the transport's Describe returned neither a description nor an error")
	}
	return d, err
}

func (g *guard) Configure(ctx context.Context, cfg sdk.Config) (diags sdk.Diagnostics, err error) {
	defer func() {
		if p := g.caught("Configure", recover()); p != nil {
			diags, err = nil, p
		}
	}()
	return g.impl.Configure(ctx, cfg)
}

func (g *guard) Check(ctx context.Context) (err error) {
	defer func() {
		if p := g.caught("Check", recover()); p != nil {
			err = p
		}
	}()
	return g.impl.Check(ctx)
}

func (g *guard) Send(ctx context.Context, msgs []*sdk.Message) (results []sdk.Result, err error) {
	defer func() {
		if p := g.caught("Send", recover()); p != nil {
			results, err = nil, p
		}
	}()
	return g.impl.Send(ctx, msgs)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
