package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeTransport is an in-process sdk.Transport that records what it is
// asked to send and answers with send.
type fakeTransport struct {
	send func(msgs []*sdk.Message) ([]sdk.Result, error)

	mu   sync.Mutex
	sent []*sdk.Message
}

func (f *fakeTransport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{Name: "fake"}, nil
}

func (f *fakeTransport) Configure(context.Context, sdk.Config) (sdk.Diagnostics, error) {
	return nil, nil
}

func (f *fakeTransport) Check(context.Context) error { return nil }

func (f *fakeTransport) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	f.mu.Lock()
	f.sent = append(f.sent, msgs...)
	f.mu.Unlock()
	return f.send(msgs)
}

func (f *fakeTransport) messages() []*sdk.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sdk.Message(nil), f.sent...)
}

// accepts answers every message with receipt.
func accepts(receipt string) *fakeTransport {
	return &fakeTransport{send: func(msgs []*sdk.Message) ([]sdk.Result, error) {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Receipt: receipt}
		}
		return out, nil
	}}
}

// failsBatch fails the whole batch with err.
func failsBatch(err error) *fakeTransport {
	return &fakeTransport{send: func([]*sdk.Message) ([]sdk.Result, error) { return nil, err }}
}

// failsEach gives every message err as its result.
func failsEach(err error) *fakeTransport {
	return &fakeTransport{send: func(msgs []*sdk.Message) ([]sdk.Result, error) {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Err: err}
		}
		return out, nil
	}}
}

const testConfig = `
agent {
  node = "node-1.example"
  mute = %MUTE%
}

transport "primary" {
  plugin = "smtp-basic"
  from   = "Tocsin Alerts <alerts@example.com>"
}

transport "backup" {
  plugin = "smtp-basic"
  from   = "backup@example.com"
}

transport "third" {
  plugin = "smtp-basic"
  from   = "third@example.com"
}

contact "ops" {
  email = ["Ops Team <ops@example.com>", "oncall@example.com"]
  via   = [transport.primary, transport.backup, transport.third]
}
`

var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// loadConfig writes testConfig into a temporary directory and loads it.
func loadConfig(t *testing.T, mute bool) *config.Config {
	t.Helper()
	src := strings.ReplaceAll(testConfig, "%MUTE%", map[bool]string{true: "true", false: "false"}[mute])
	path := filepath.Join(t.TempDir(), "tocsin.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load config: %s", diags.Error())
	}
	return cfg
}

// newAgent returns an agent whose transports are the given fakes; a
// transport of the config without a fake is left out, as PrepareTransports
// leaves out one that failed.
func newAgent(t *testing.T, mute bool, plugins map[string]*fakeTransport) *Agent {
	t.Helper()
	cfg := loadConfig(t, mute)
	ts := Transports{}
	for name, p := range plugins {
		tc := cfg.Transport(name)
		if tc == nil {
			t.Fatalf("no transport %q in the config", name)
		}
		ts[name] = &Transport{Config: tc, Plugin: p, Description: &sdk.Description{Name: "fake"}}
	}
	return &Agent{
		cfg:        cfg,
		logger:     hclog.NewNullLogger(),
		transports: upTransports(ts),
		started:    testNow,
		now:        func() time.Time { return testNow },
	}
}

// contactEntry is the entry of a notification with m to contact, as the
// engine stores it.
func contactEntry(t *testing.T, a *Agent, contact string, m outbox.Mail) *outbox.Entry {
	t.Helper()
	c := a.current().cfg.Contact(contact)
	e, err := notify.ForContact(a.current().cfg.Agent.Node, contact, c.Email, c.Via, m, testNow)
	if err != nil {
		t.Fatal(err)
	}
	e.Rule, e.Event = "disk", "fire"
	return e
}

// wantOpsMessage checks that m is the message of e through transport
// name: e's Message-ID, date and content, name's sender, the contact's
// addresses.
func wantOpsMessage(t *testing.T, name string, m *sdk.Message, e *outbox.Entry) {
	t.Helper()
	wantTo := []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}, {Address: "oncall@example.com"}}
	wantFrom := map[string]sdk.Address{
		"primary": {Name: "Tocsin Alerts", Address: "alerts@example.com"},
		"backup":  {Address: "backup@example.com"},
		"third":   {Address: "third@example.com"},
	}
	if m.ID != e.ID {
		t.Errorf("%s sent Message-ID %q, want %q", name, m.ID, e.ID)
	}
	if m.From != wantFrom[name] {
		t.Errorf("%s sent From %+v, want %+v", name, m.From, wantFrom[name])
	}
	if !reflect.DeepEqual(m.To, wantTo) || m.Cc != nil || m.Bcc != nil {
		t.Errorf("%s sent To %+v Cc %+v Bcc %+v, want To %+v", name, m.To, m.Cc, m.Bcc, wantTo)
	}
	if m.Subject != e.Mail.Subject || m.Text != e.Mail.Text || m.HTML != e.Mail.HTML || !reflect.DeepEqual(m.Headers, e.Mail.Headers) {
		t.Errorf("%s sent %+v, want the content of %+v", name, m, e.Mail)
	}
	if !m.Date.Equal(testNow) {
		t.Errorf("%s sent Date %v, want %v", name, m.Date, testNow)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("%s got a message that does not validate: %v", name, err)
	}
}

// TestAgent_sendNow: what cannot be stored goes through the first
// transport of the contact's via list that takes it, under one Message-ID.
func TestAgent_sendNow(t *testing.T) {
	t.Parallel()
	tempErr := sdk.TemporaryError(errors.New("421 try later"), "421", "")
	permErr := sdk.PermanentError(errors.New("535 bad login"), "535 5.7.8", "check the password")
	otherErr := sdk.TemporaryError(errors.New("connection refused"), "", "")

	tests := []struct {
		name    string
		plugins func() map[string]*fakeTransport
		// tried lists the transports that must have been asked to send,
		// in order; the others must not have been.
		tried []string
		// wantTransport and wantReceipt are the outcome on success.
		wantTransport, wantReceipt string
		// wantErrs are the texts the error must contain, wantIs the
		// errors it must wrap (the plugins' causes: a plugin's error
		// without a remedy is given one); empty means success.
		wantErrs []string
		wantIs   []error
	}{
		{
			name: "first transport delivers",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": accepts("250 primary ok"), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried:         []string{"primary"},
			wantTransport: "primary", wantReceipt: "250 primary ok",
		},
		{
			name: "temporary batch error falls back to the next",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsBatch(tempErr), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried:         []string{"primary", "backup"},
			wantTransport: "backup", wantReceipt: "250 backup ok",
		},
		{
			name: "permanent per-message error falls back to the next",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsEach(permErr), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried:         []string{"primary", "backup"},
			wantTransport: "backup", wantReceipt: "250 backup ok",
		},
		{
			name: "a transport that is not configured is skipped",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"backup": failsEach(tempErr), "third": accepts("250 third ok")}
			},
			tried:         []string{"backup", "third"},
			wantTransport: "third", wantReceipt: "250 third ok",
		},
		{
			name: "all fail",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsBatch(tempErr), "backup": failsEach(permErr), "third": failsBatch(otherErr)}
			},
			tried: []string{"primary", "backup", "third"},
			wantErrs: []string{
				"transport primary: temporary error 421: 421 try later",
				"transport backup: permanent error 535 5.7.8: 535 bad login",
				"transport third: temporary error: connection refused",
			},
			wantIs: []error{tempErr.Err, permErr, otherErr.Err},
		},
		{
			name: "all fail, one not configured",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"backup": failsEach(permErr), "third": failsBatch(otherErr)}
			},
			tried: []string{"backup", "third"},
			wantErrs: []string{
				"transport primary: unknown transport",
				"transport backup: permanent error 535 5.7.8: 535 bad login",
				"transport third: temporary error: connection refused",
			},
			wantIs: []error{delivery.ErrUnknownTransport, permErr, otherErr.Err},
		},
	}
	mail := outbox.Mail{
		Subject: "Disk full on web-1",
		Text:    "The disk is full.",
		HTML:    "<p>The disk is full.</p>",
		Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk"}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plugins := tt.plugins()
			a := newAgent(t, false, plugins)
			e := contactEntry(t, a, "ops", mail)
			name, receipt, err := a.sendNow(t.Context(), e)

			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("sendNow: %v", err)
				}
				if name != tt.wantTransport || receipt != tt.wantReceipt {
					t.Errorf("sent via %q with receipt %q, want %q, %q", name, receipt, tt.wantTransport, tt.wantReceipt)
				}
			} else {
				if err == nil {
					t.Fatalf("sendNow succeeded via %q", name)
				}
				lines := strings.Split(err.Error(), "\n")
				if !reflect.DeepEqual(lines, tt.wantErrs) {
					t.Errorf("error lines:\n got  %q\n want %q", lines, tt.wantErrs)
				}
				for _, e := range tt.wantIs {
					if !errors.Is(err, e) {
						t.Errorf("error does not wrap %v", e)
					}
				}
				if name != "" || receipt != "" {
					t.Errorf("transport %q, receipt %q with the error", name, receipt)
				}
			}

			// One notification, one Message-ID: every attempt carries the
			// entry's.
			var tried []string
			for _, name := range []string{"primary", "backup", "third"} {
				p := plugins[name]
				if p == nil {
					continue
				}
				msgs := p.messages()
				if len(msgs) == 0 {
					continue
				}
				tried = append(tried, name)
				if len(msgs) != 1 {
					t.Errorf("%s was asked to send %d messages, want 1", name, len(msgs))
				}
				wantOpsMessage(t, name, msgs[0], e)
			}
			if !reflect.DeepEqual(tried, tt.tried) {
				t.Errorf("tried %q, want %q", tried, tt.tried)
			}
		})
	}
}

// withOutbox gives a an outbox in a temporary directory and a dispatcher,
// running when run is set.
func withOutbox(t *testing.T, a *Agent, run bool) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), OutboxFile), outbox.Options{Now: a.now})
	if err != nil {
		t.Fatal(err)
	}
	a.outbox = ob
	a.dispatcher = delivery.New(ob, dispatchTransports{a}, policy(a.cfg.Delivery), &deliveryLog{logger: a.logger}, a.logger, delivery.WithClock(a.now))
	if !run {
		t.Cleanup(func() { _ = ob.Close() })
		return ob
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.dispatcher.Run(context.Background())
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.dispatcher.Stop(ctx)
		<-done
		_ = ob.Close()
	})
	return ob
}

// TestAgent_Enqueue: a notice (dev mode's startup mail) goes the way of a
// rule's notification: stored, then sent by the dispatcher through the
// contact's first transport, from its sender, under the ID Enqueue
// returned.
func TestAgent_Enqueue(t *testing.T) {
	t.Parallel()
	primary, backup := accepts("250 primary ok"), accepts("250 backup ok")
	a := newAgent(t, false, map[string]*fakeTransport{"primary": primary, "backup": backup})
	ob := withOutbox(t, a, true)
	mail := outbox.Mail{Subject: "[tocsin] node-1.example: agent started", Text: "started", HTML: "<p>started</p>"}
	id, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "ops", Mail: mail})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if !strings.HasPrefix(id, "20250102T030405Z.") || !strings.HasSuffix(id, "@node-1.example") {
		t.Errorf("Message-ID %q, want the time stamp and @node-1.example", id)
	}
	waitFor(t, "the notice to be sent", func() bool { return len(primary.messages()) == 1 })
	want := contactEntry(t, a, "ops", mail)
	want.ID = id
	wantOpsMessage(t, "primary", primary.messages()[0], want)
	if n := len(backup.messages()); n != 0 {
		t.Errorf("backup sent %d messages", n)
	}
	waitFor(t, "the notice to leave the outbox", func() bool {
		st, err := ob.Stats()
		return err == nil && st.Pending == 0 && st.Dead == 0
	})
}

// TestAgent_Enqueue_stored: what Enqueue stores is an entry like a rule's.
func TestAgent_Enqueue_stored(t *testing.T) {
	t.Parallel()
	a := newAgent(t, false, map[string]*fakeTransport{"primary": accepts("250 ok")})
	ob := withOutbox(t, a, false)
	id, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "ops", Mail: outbox.Mail{Subject: "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ob.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	want := contactEntry(t, a, "ops", outbox.Mail{Subject: "hello"})
	want.ID, want.Rule, want.Event, want.State, want.NextAttempt = id, "startup", NoticeEvent, outbox.Pending, testNow
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored\n %+v\nwant\n %+v", got, want)
	}
}

func TestAgent_Enqueue_muted(t *testing.T) {
	t.Parallel()
	primary := accepts("250 ok")
	a := newAgent(t, true, map[string]*fakeTransport{"primary": primary})
	ob := withOutbox(t, a, true)
	id, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "ops", Mail: outbox.Mail{Subject: "hello"}})
	if err != nil || id != "" {
		t.Fatalf("Enqueue = %q, %v; want nothing stored and no error", id, err)
	}
	if st, err := ob.Stats(); err != nil || st.Pending != 0 || st.Dead != 0 {
		t.Errorf("a muted agent stored something: %+v, %v", st, err)
	}
	if n := len(primary.messages()); n != 0 {
		t.Errorf("a muted agent sent %d messages", n)
	}
}

func TestAgent_Enqueue_unknownContact(t *testing.T) {
	t.Parallel()
	primary := accepts("250 ok")
	for _, mute := range []bool{false, true} {
		a := newAgent(t, mute, map[string]*fakeTransport{"primary": primary})
		ob := withOutbox(t, a, false)
		id, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "nobody", Mail: outbox.Mail{Subject: "hello"}})
		if err == nil || err.Error() != `enqueue: no contact "nobody"` {
			t.Errorf("mute=%v: Enqueue error = %v, want enqueue: no contact \"nobody\"", mute, err)
		}
		if id != "" {
			t.Errorf("mute=%v: ID %q for an unknown contact", mute, id)
		}
		if st, err := ob.Stats(); err != nil || st.Pending != 0 {
			t.Errorf("mute=%v: stored %+v, %v for an unknown contact", mute, st, err)
		}
	}
	if n := len(primary.messages()); n != 0 {
		t.Errorf("sent %d messages for an unknown contact", n)
	}
}

func TestAgent_Enqueue_idPerNotification(t *testing.T) {
	t.Parallel()
	a := newAgent(t, false, map[string]*fakeTransport{"primary": accepts("250 ok")})
	withOutbox(t, a, false)
	first, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "ops", Mail: outbox.Mail{Subject: "one"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Enqueue(t.Context(), Notice{Source: "startup", Contact: "ops", Mail: outbox.Mail{Subject: "two"}})
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Errorf("two notifications share Message-ID %q", first)
	}
}

// TestDispatchTransports_From: the dispatcher gets each transport's sender
// from its block, parsed when the block was loaded, and again when a
// reload gives the transport a new block (notify.TestSender tests the
// parsing).
func TestDispatchTransports_From(t *testing.T) {
	t.Parallel()
	relay := func(from string) *config.Transport { return &config.Transport{Name: "relay", From: from} }
	lt := newLive("relay", relay(`"Tocsin, Alerts" <alerts@example.com>`), nil, nil)
	a := &Agent{cfg: &config.Config{}, transports: transportSet{"relay": lt}}
	d := dispatchTransports{a}
	if got, err := d.From("relay"); err != nil || got != (sdk.Address{Name: "Tocsin, Alerts", Address: "alerts@example.com"}) {
		t.Errorf("From = %+v, %v", got, err)
	}
	lt.keep(relay("alerts at example.com"))
	if _, err := d.From("relay"); err == nil || err.Error() != "transport relay: from: mail: no angle-addr" {
		t.Errorf("From after a reload to a bad from: %v", err)
	}
	lt.keep(relay("other@example.com"))
	if got, err := d.From("relay"); err != nil || got != (sdk.Address{Address: "other@example.com"}) {
		t.Errorf("From after a reload = %+v, %v", got, err)
	}
	if _, err := d.From("gone"); !errors.Is(err, delivery.ErrUnknownTransport) {
		t.Errorf("From of an unknown transport: %v, want ErrUnknownTransport", err)
	}
}

func TestTransports_Names(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ts   Transports
		want []string
	}{
		{name: "empty", ts: Transports{}, want: []string{}},
		{name: "sorted", ts: Transports{"relay": nil, "backup": nil, "primary": nil}, want: []string{"backup", "primary", "relay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ts.Names(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Names = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAgent_health(t *testing.T) {
	t.Parallel()
	a := newAgent(t, false, map[string]*fakeTransport{"primary": accepts("ok"), "backup": accepts("ok")})
	h := a.health()
	if h.Status != "ok" || h.Node != "node-1.example" || h.Started != "2025-01-02T03:04:05Z" || !reflect.DeepEqual(h.Transports, []string{"backup", "primary"}) || h.Version == "" {
		t.Errorf("health = %+v", h)
	}
}
