package agent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/fsafe"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// A transport block's test_to asks for a test mail whenever the
// transport's effective settings differ from the last ones that passed a
// test: at the start, at each reload and when a transport that failed to
// start comes up. The mail goes through the outbox (durable, retried) and
// through that transport only, with no fallback, so that its delivery
// proves the transport. Settings are compared by an HMAC-SHA256 under a
// random key of data_dir, never in clear; the HMAC is recorded once the
// test mail was delivered.
const (
	// TestMailSource is the rule name of a test mail's outbox entry.
	TestMailSource = "transport_test"
	// TestMailEvent is its event.
	TestMailEvent = "test"
	// TestMailHeader names the transport a test mail tests; every test
	// mail carries it, so that mail rules can file it.
	TestMailHeader = "X-Tocsin-Test"
	// TestMailContact is the contact of a test mail's outbox entry (and
	// of its metrics): the transport's test_to addresses.
	TestMailContact = "test_to"

	// TestKeyFile is the HMAC key under data_dir (32 random bytes, 0600).
	TestKeyFile = "transport-tests.key"
	// TestStateFile is, under data_dir, the HMAC of the settings that
	// passed each transport's last test, and when.
	TestStateFile = "transport-tests.json"
)

// Why a test mail is sent (rules.TransportTest.Reason).
const (
	reasonFirst   = "first test"
	reasonChanged = "settings changed"
	reasonFailed  = "last test failed"
)

// passedTest is what the state file keeps of a transport: the HMAC of
// the settings its last delivered test mail proved, and when.
type passedTest struct {
	HMAC string    `json:"hmac"`
	At   time.Time `json:"passed_at"`
}

// testFile is the state file's content.
type testFile struct {
	Version    int                   `json:"version"`
	Transports map[string]passedTest `json:"transports"`
}

// testRun is a transport's current test: passed, or a test mail on its
// way (pending, failed).
type testRun struct {
	rules.TransportTest
	id   string // the test mail's Message-ID; "" when passed
	sum  string // the HMAC of the settings it proves
	dead bool   // the test mail is a dead letter: the next start or reload sends another
}

// transportTests tracks the test mails of the transports with test_to.
// It is safe for concurrent use.
type transportTests struct {
	dir    string
	now    func() time.Time
	logger hclog.Logger

	// checking serialises testChanged, so that two callers never both
	// send a test mail for the same settings.
	checking sync.Mutex

	mu     sync.Mutex
	key    []byte                // read or created at the first use
	passed map[string]passedTest // the state file, read at the first use
	runs   map[string]*testRun   // by transport
	counts map[string]metrics.TransportTest
}

func newTransportTests(dataDir string, now func() time.Time, logger hclog.Logger) *transportTests {
	return &transportTests{dir: dataDir, now: now, logger: logger, runs: map[string]*testRun{}, counts: map[string]metrics.TransportTest{}}
}

// load reads the key (creating it when there is none) and the state
// file, once. mu must be held.
func (tt *transportTests) load() error {
	if tt.key != nil {
		return nil
	}
	key, err := readOrCreateKey(filepath.Join(tt.dir, TestKeyFile))
	if err != nil {
		return err
	}
	passed := map[string]passedTest{}
	path := filepath.Join(tt.dir, TestStateFile)
	b, err := fsafe.ReadFile(path, 1<<20, fsafe.State)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	default:
		var f testFile
		if err := json.Unmarshal(b, &f); err != nil {
			// Only a test mail too many is lost: every transport is
			// tested again, and the file written anew.
			tt.logger.Warn("the record of passed test mails is unreadable; every transport with test_to is tested again", "file", path, "error", err)
		}
		for name, p := range f.Transports {
			passed[name] = p
		}
	}
	tt.key, tt.passed = key, passed
	return nil
}

// readOrCreateKey returns the 32-byte key at path, creating it (0600,
// random) when it does not exist. The agent's lock on data_dir makes it
// the only writer.
func readOrCreateKey(path string) ([]byte, error) {
	b, err := fsafe.ReadFile(path, 1024, fsafe.Secret)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s holds %d bytes, not a key of 32: remove it, and every transport with test_to is tested again", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make the test mail key: %w", err)
	}
	// Written whole or not at all: a crash never leaves a short key.
	if err := fsafe.WriteFileAtomic(filepath.Dir(path), filepath.Base(path), key); err != nil {
		return nil, fmt.Errorf("create the test mail key: %w", err)
	}
	return key, nil
}

// save writes the state file atomically (a temporary file renamed over
// it). mu must be held.
func (tt *transportTests) save() error {
	b, err := json.MarshalIndent(testFile{Version: 1, Transports: tt.passed}, "", "  ")
	if err != nil {
		return err
	}
	return fsafe.WriteFileAtomic(tt.dir, TestStateFile, b)
}

// effective is what a transport's test proves: the plugin (name, path,
// pin), the sender, the settings as the plugin got them (env() and file()
// resolved, secrets included) and who the stored login is. The login
// counts by account, scopes, token endpoint and when tocsin oauth login
// stored it, not by its refresh token: a provider that rotates the token
// at each use would otherwise ask for a test mail at every start.
type effective struct {
	Plugin   string          `json:"plugin"`
	Path     string          `json:"path,omitempty"`
	SHA256   string          `json:"sha256,omitempty"`
	From     string          `json:"from"`
	Settings json.RawMessage `json:"settings"`
	Login    *effectiveLogin `json:"login,omitempty"`
}

// effectiveLogin is the part of a stored login a test proves.
type effectiveLogin struct {
	Account    string    `json:"account,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	TokenURL   string    `json:"token_url,omitempty"`
	ObtainedAt time.Time `json:"obtained_at"`
}

// sum is the HMAC-SHA256 of tc's effective settings under the key, in
// hex. mu must be held, and load done.
func (tt *transportTests) sum(tc *config.Transport, store *TokenStore) (string, error) {
	e := effective{Plugin: tc.Plugin, Path: tc.Path, SHA256: tc.SHA256, From: tc.From, Settings: tc.Settings.JSON()}
	if store != nil {
		login, err := store.login(tc.Name)
		if err != nil {
			return "", fmt.Errorf("read the stored login: %w", err)
		}
		e.Login = login
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, tt.key)
	m.Write(b)
	clear(b)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// login returns who the login stored for transport is, nil when it has
// none.
func (s *TokenStore) login(transport string) (*effectiveLogin, error) {
	if ok, err := s.hasToken(transport); !ok || err != nil {
		return nil, err
	}
	st, err := s.Open()
	if err != nil {
		return nil, err
	}
	e, ok, err := st.Get(transport)
	if err != nil || !ok {
		return nil, err
	}
	return &effectiveLogin{Account: e.Account, Scopes: e.Scopes, TokenURL: e.TokenURL, ObtainedAt: e.ObtainedAt.UTC()}, nil
}

// testChanged sends a test mail through each transport of cfg that has
// test_to, is up, and whose effective settings are not those of its last
// passed test (nor of a test mail on its way, unless that one is dead).
// A test mail of older settings still in the outbox is dropped. Start,
// Reload and a transport that comes up call it; nothing is sent while
// the agent is muted.
func (a *Agent) testChanged(ctx context.Context, cfg *config.Config) {
	tt := a.tests
	if tt == nil {
		return
	}
	tt.checking.Lock()
	defer tt.checking.Unlock()
	cur := a.current()
	tt.retain(cfg)
	store := NewTokenStore(cfg.Agent)
	for _, tc := range cfg.Transports {
		if len(tc.TestTo) == 0 {
			continue
		}
		lt := cur.transports[tc.Name]
		if lt == nil {
			continue
		}
		t, _ := lt.current()
		if t == nil {
			continue // tested once it starts
		}
		reason, sum, since, err := tt.need(t.Config, store)
		if err != nil {
			a.logger.Error("cannot tell whether transport's settings changed; no test mail is sent", "transport", tc.Name, "error", err,
				"remedy", "fix data_dir's permissions or the token store (tocsin oauth status), then reload")
			tt.failed(tc.Name, "", "cannot compare its settings: "+err.Error(), reasonChanged, true)
			continue
		}
		if reason == "" {
			continue
		}
		if cfg.Agent.Mute {
			a.logger.Info("muted: not sending the transport's test mail", "transport", tc.Name, "reason", reason)
			continue
		}
		e, err := a.testEntry(cfg, t.Config, reason, since)
		if err != nil {
			a.logger.Error("cannot make the transport's test mail", "transport", tc.Name, "error", err)
			tt.failed(tc.Name, "", "cannot make the test mail: "+err.Error(), reason, true)
			continue
		}
		// Recorded before it is stored: the dispatcher may deliver it
		// before enqueue returns.
		old := tt.pending(tc.Name, e.ID, sum, reason)
		if err := a.enqueue(ctx, nil, []*outbox.Entry{e}); err != nil {
			a.logger.Error("cannot store the transport's test mail; it is tried again at the next start or reload", "transport", tc.Name, "error", err)
			tt.failed(tc.Name, "", "cannot store the test mail: "+err.Error(), reason, true)
			continue
		}
		a.dropTests(ctx, tc.Name, e.ID, old)
		a.logger.Info("queued a test mail through the transport", "transport", tc.Name, "reason", reason, "to", strings.Join(tc.TestTo, ", "), "message_id", e.ID)
	}
}

// need reports why tc needs a test mail ("" when it does not), the HMAC
// of its settings, and when its last test passed (zero if never).
func (tt *transportTests) need(tc *config.Transport, store *TokenStore) (reason, sum string, since time.Time, err error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if err := tt.load(); err != nil {
		return "", "", time.Time{}, err
	}
	if sum, err = tt.sum(tc, store); err != nil {
		return "", "", time.Time{}, err
	}
	p, ok := tt.passed[tc.Name]
	run := tt.runs[tc.Name]
	switch {
	case ok && hmac.Equal([]byte(p.HMAC), []byte(sum)):
		if run == nil || run.sum != sum {
			tt.runs[tc.Name] = &testRun{TransportTest: rules.TransportTest{State: rules.TestPassed, At: p.At}, sum: sum}
		}
		return "", sum, p.At, nil
	case run != nil && run.sum == sum && run.id != "" && !run.dead:
		return "", sum, p.At, nil // on its way, retried by the outbox
	case run != nil && run.sum == sum && run.dead:
		return reasonFailed, sum, p.At, nil
	case ok, run != nil && run.sum != "":
		return reasonChanged, sum, p.At, nil
	}
	return reasonFirst, sum, time.Time{}, nil
}

// retain forgets the runs of transports without test_to in cfg.
func (tt *transportTests) retain(cfg *config.Config) {
	keep := map[string]bool{}
	for _, tc := range cfg.Transports {
		keep[tc.Name] = len(tc.TestTo) > 0
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for name := range tt.runs {
		if !keep[name] {
			delete(tt.runs, name)
		}
	}
	for name := range tt.counts {
		if !keep[name] {
			delete(tt.counts, name)
		}
	}
}

// pending records the test mail id of the settings sum, sent for reason,
// and returns the Message-ID of the test mail it replaces ("" if none).
func (tt *transportTests) pending(name, id, sum, reason string) string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	old := ""
	if r := tt.runs[name]; r != nil {
		old = r.id
	}
	tt.runs[name] = &testRun{TransportTest: rules.TransportTest{State: rules.TestPending, At: tt.now(), Reason: reason}, id: id, sum: sum}
	return old
}

// failed records a failed attempt of transport name's test mail id ("":
// the test could not even be sent), with its error; dead says no attempt
// follows. A failure of another test mail than the current one is only
// counted.
func (tt *transportTests) failed(name, id, msg, reason string, dead bool) *testRun {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	c := tt.counts[name]
	if id != "" {
		c.Failed++
	}
	tt.counts[name] = c
	r := tt.runs[name]
	if id != "" && (r == nil || r.id != id) {
		return nil
	}
	if r == nil {
		r = &testRun{}
		tt.runs[name] = r
	}
	r.State, r.Error, r.At, r.dead = rules.TestFailed, msg, tt.now(), dead
	if r.Reason == "" {
		r.Reason = reason
	}
	if id != "" {
		r.Attempts++
	}
	c2 := *r
	return &c2
}

// sent records that transport name delivered test mail id: when it is
// the current one, its settings passed, and the state file says so. It
// returns the run that passed, nil for another test mail.
func (tt *transportTests) sent(name, id string) (*testRun, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	c := tt.counts[name]
	c.Sent++
	tt.counts[name] = c
	r := tt.runs[name]
	if r == nil || r.id != id {
		return nil, nil
	}
	now := tt.now()
	r.State, r.Error, r.At, r.id, r.dead = rules.TestPassed, "", now, "", false
	if tt.passed == nil {
		tt.passed = map[string]passedTest{}
	}
	tt.passed[name] = passedTest{HMAC: r.sum, At: now.UTC()}
	c2 := *r
	return &c2, tt.save()
}

// facts returns outbox.tests: the test of each transport with test_to
// that has one.
func (tt *transportTests) facts() map[string]rules.TransportTest {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if len(tt.runs) == 0 {
		return nil
	}
	out := make(map[string]rules.TransportTest, len(tt.runs))
	for name, r := range tt.runs {
		out[name] = r.TransportTest
	}
	return out
}

// metrics returns what /metrics says of the test mails.
func (tt *transportTests) metrics() map[string]metrics.TransportTest {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	out := make(map[string]metrics.TransportTest, len(tt.runs))
	for name, r := range tt.runs {
		c := tt.counts[name]
		c.OK = r.State == rules.TestPassed
		out[name] = c
	}
	return out
}

// testEntry is the outbox entry of tc's test mail: to its test_to,
// through tc alone.
func (a *Agent) testEntry(cfg *config.Config, tc *config.Transport, reason string, since time.Time) (*outbox.Entry, error) {
	now := a.now()
	node := cfg.Agent.Node
	why := map[string]string{
		reasonFirst:   "the transport has not delivered a test mail yet (its first start with test_to, or its record in data_dir was lost)",
		reasonChanged: "its settings changed since its last test mail",
		reasonFailed:  "its last test mail failed; this one tries the same settings again",
	}[reason]
	if reason == reasonChanged && !since.IsZero() {
		why = fmt.Sprintf("its settings changed since the last test mail it delivered (%s)", since.UTC().Format(time.RFC3339))
	}
	text := fmt.Sprintf(`This is a test mail from Tocsin on %s, sent through transport %q alone (plugin %s, from %s), to prove that it delivers.

Why: %s.
Node: %s
Transport: %s
Sent: %s

Nothing needs to be done. Tocsin sends one whenever the transport's effective settings change (plugin, sender, config block, secrets, stored login), to the addresses of test_to in its transport block. If this mail does not arrive, the agent's log, /metrics (tocsin_transport_test_ok) and the rule transport_test_failed say why.
`, node, tc.Name, tc.Plugin, tc.From, why, node, tc.Name, now.UTC().Format(time.RFC3339))
	m := outbox.Mail{
		Subject: fmt.Sprintf("Tocsin test mail: transport %s on %s (%s)", tc.Name, node, reason),
		Text:    text,
		Headers: []sdk.Header{{Name: TestMailHeader, Value: tc.Name}},
	}
	e, err := notify.ForContact(node, TestMailContact, tc.TestTo, []string{tc.Name}, m, now)
	if err != nil {
		return nil, err
	}
	e.Rule, e.Event = TestMailSource, TestMailEvent
	return e, nil
}

// dropTests drops the test mails of transport name in the outbox other
// than keep: those of older settings, from this run (old) or an earlier
// one. What cannot be dropped is logged and goes out as well.
func (a *Agent) dropTests(ctx context.Context, name, keep, old string) {
	entries, err := a.outbox.List("")
	if err != nil {
		a.logger.Warn("cannot look for older test mails of the transport in the outbox", "transport", name, "error", err)
		return
	}
	for _, e := range entries {
		if e.Rule != TestMailSource || e.ID == keep || !slices.Equal(e.Via, []string{name}) {
			continue
		}
		if err := a.outbox.Drop(ctx, e.ID); err != nil && !errors.Is(err, outbox.ErrNotFound) {
			a.logger.Warn("cannot drop an older test mail of the transport", "transport", name, "message_id", e.ID, "error", err)
			continue
		}
		a.logger.Info("dropped an older test mail of the transport: a new one tests its current settings", "transport", name, "message_id", e.ID, "current", e.ID == old)
	}
}

// outboxFact is the variable outbox: the watch's, and the test mails.
func (a *Agent) outboxFact() rules.OutboxFact {
	f := a.watch.Fact()
	if a.tests != nil {
		f.Tests = a.tests.facts()
	}
	return f
}

// testObserver sees the dispatcher's outcomes of test mails before it
// passes every event on to next.
type testObserver struct {
	a    *Agent
	next delivery.Observer
}

var _ delivery.Observer = testObserver{}

// Sent records a delivered test mail: its settings passed.
func (o testObserver) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	if e != nil && e.Rule == TestMailSource {
		r, err := o.a.tests.sent(transport, e.ID)
		switch {
		case err != nil:
			o.a.logger.Error("the test mail went out, but its record cannot be written; the transport is tested again at the next start or reload", "transport", transport, "error", err,
				"remedy", "free space under data_dir or fix its permissions")
		case r != nil:
			o.a.logger.Info("test mail delivered: the transport works with its current settings", "transport", transport, "message_id", e.ID, "receipt", receipt, "reason", r.Reason)
		}
	}
	o.next.Sent(e, transport, receipt, latency)
}

// Retried records a failed attempt of a test mail, tried again later.
func (o testObserver) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	if e != nil && e.Rule == TestMailSource {
		o.testFailed(e, transport, err, false, "next", next.UTC().Format(time.RFC3339))
	}
	o.next.Retried(e, transport, err, next)
}

// FellBack cannot happen to a test mail (its via list has one transport);
// it is passed on.
func (o testObserver) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	o.next.FellBack(e, from, to, err)
}

// DeadLettered records a test mail that failed for good: the next start
// or reload sends another.
func (o testObserver) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	if e != nil && e.Rule == TestMailSource {
		name := ""
		if len(e.Via) > 0 {
			name = e.Via[0]
		}
		o.testFailed(e, name, err, true)
	}
	o.next.DeadLettered(e, err)
}

// testFailed logs a failed attempt of test mail e through transport, with
// the transport's error and remedy, and records it.
func (o testObserver) testFailed(e *outbox.Entry, transport string, err *sdk.DeliveryError, dead bool, kv ...any) {
	msg, remedy := "failed", ""
	if err != nil {
		msg, remedy = err.Error(), err.Remedy
	}
	if remedy != "" {
		msg += ". " + remedy
	}
	r := o.a.tests.failed(transport, e.ID, msg, "", dead)
	if r == nil {
		return // an older test mail
	}
	what := "the test mail through the transport failed; it is retried"
	if dead {
		what = "the test mail through the transport failed for good: its settings do not work; a new test mail is sent at the next start or reload"
	}
	args := append([]any{"transport", transport, "message_id", e.ID, "attempt", r.Attempts, "reason", r.Reason, "error", err, "remedy", remedy}, kv...)
	o.a.logger.Error(what, args...)
}

// TransportTestStatus is a transport's test mail in /v1/status, as
// outbox.tests has it.
type TransportTestStatus struct {
	State    string    `json:"state"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
}

// testStatus is transport name's test mail for /v1/status; nil when it
// has none.
func (a *Agent) testStatus(name string) *TransportTestStatus {
	if a.tests == nil {
		return nil
	}
	a.tests.mu.Lock()
	defer a.tests.mu.Unlock()
	r := a.tests.runs[name]
	if r == nil {
		return nil
	}
	at := r.At
	if !at.IsZero() {
		at = at.UTC()
	}
	return &TransportTestStatus{State: r.State, Error: r.Error, At: at, Reason: r.Reason, Attempts: r.Attempts}
}
