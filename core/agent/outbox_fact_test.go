package agent

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/channelwatch"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// watchClock is a clock the tests move by hand.
type watchClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *watchClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *watchClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func authFailed() *sdk.DeliveryError {
	return &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535", Reply: "5.7.8 authentication failed"}
}

// recordingObserver records the events it gets.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingObserver) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recordingObserver) Sent(e *outbox.Entry, transport, receipt string, _ time.Duration) {
	r.add("sent " + e.ID + " " + transport + " " + receipt)
}

func (r *recordingObserver) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, _ time.Time) {
	r.add("retried " + e.ID + " " + transport + " " + err.Code)
}

func (r *recordingObserver) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	r.add("fell back " + e.ID + " " + from + " " + to + " " + err.Code)
}

func (r *recordingObserver) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	r.add("dead " + e.ID + " " + err.Code)
}

func (r *recordingObserver) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// scriptedTransports answers every send through a transport with its
// scripted error, nil for success.
type scriptedTransports struct {
	mu   sync.Mutex
	errs map[string]*sdk.DeliveryError
}

func (s *scriptedTransports) set(transport string, err *sdk.DeliveryError) {
	s.mu.Lock()
	s.errs[transport] = err
	s.mu.Unlock()
}

func (s *scriptedTransports) From(string) (sdk.Address, error) { return sdk.Address{}, nil }

func (s *scriptedTransports) Send(_ context.Context, transport string, msgs []*sdk.Message) ([]sdk.Result, error) {
	s.mu.Lock()
	err := s.errs[transport]
	s.mu.Unlock()
	out := make([]sdk.Result, len(msgs))
	for i := range out {
		if err != nil {
			out[i].Err = err
		} else {
			out[i].Receipt = "250 ok"
		}
	}
	return out, nil
}

func (s *scriptedTransports) Batch(string) bool { return false }

func (s *scriptedTransports) Rate(string) delivery.Rate { return delivery.Rate{} }

// libraryWithAlert is a configuration whose failover library tells
// ops_fallback when a transport keeps failing.
const libraryWithAlert = `
agent {
  node     = "appliance-b"
  data_dir = "%DATA%"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
}
transport "graph" {
  plugin = "graph"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay, transport.graph]
}
contact "ops_fallback" {
  email = ["ops@example.net"]
  via   = [transport.graph]
}
library "failover" {
  role                   = "backup"
  peer_url               = "https://192.0.2.1:9870"
  notify                 = [contact.ops]
  delivery_alert_contact = contact.ops_fallback
}
`

// entryRecorder is the engine's enqueuer: it keeps the entries.
type entryRecorder struct {
	mu      sync.Mutex
	entries []*outbox.Entry
}

func (r *entryRecorder) Enqueue(_ context.Context, _ []outbox.Mark, entries []*outbox.Entry) error {
	r.mu.Lock()
	r.entries = append(r.entries, entries...)
	r.mu.Unlock()
	return nil
}

func (r *entryRecorder) Marks() (map[string]outbox.Mark, error) { return nil, nil }

func (r *entryRecorder) take() []*outbox.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.entries
	r.entries = nil
	return out
}

// TestChannelWatch_dispatcherToEngine runs the real outbox and dispatcher
// with the watch as their observer, and the rule runner, with the watch's
// fact as its variable outbox, evaluates the library's delivery_failing rule: a
// transport that refuses every message for 15 minutes fires it, to the
// contact of delivery_alert_contact; its next success resolves it.
func TestChannelWatch_dispatcherToEngine(t *testing.T) {
	cfg := loadSource(t, strings.ReplaceAll(libraryWithAlert, "%DATA%", t.TempDir()))
	var rule *rules.Rule
	for _, r := range cfg.Rules {
		if r.Name == "delivery_failing" {
			rule = r
		}
	}
	if rule == nil {
		t.Fatal("the library declares no delivery_failing")
	}

	ob, err := outbox.Open(filepath.Join(t.TempDir(), OutboxFile), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	clock := &watchClock{t: time.Now()}
	next := &recordingObserver{}
	w := channelwatch.New(next, ob.Stats, clock.now, nil)
	ts := &scriptedTransports{errs: map[string]*sdk.DeliveryError{"relay": authFailed()}}
	d := delivery.New(ob, ts, delivery.DefaultPolicy(), w, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = d.Stop(sctx)
		<-ran
	})

	rec := &entryRecorder{}
	eng, err := engine.New(cfg, hclog.NewNullLogger(), rec, engine.Options{Now: clock.now, Outbox: w.Fact})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })

	send := func(id string) {
		t.Helper()
		e := &outbox.Entry{ID: id, Rule: "takeover", Contact: "ops", Via: []string{"relay", "graph"}, Mail: outbox.Mail{Subject: "x"}}
		if err := ob.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
		d.Kick()
		deadline := time.Now().Add(10 * time.Second)
		// Sent is observed before the dispatcher removes the entry: wait
		// for both, or the rule may count it as pending.
		for !strings.Contains(strings.Join(next.list(), "|"), "sent "+id) || pendingCount(t, ob) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s not sent; events %q", id, next.list())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// relay refuses: the message falls back to graph, relay's streak starts.
	send("1@appliance-b")
	if got := strings.Join(next.list(), "|"); got != "fell back 1@appliance-b relay graph 535|sent 1@appliance-b graph 250 ok" {
		t.Errorf("events %q", got)
	}
	eng.Evaluate(ctx, rule)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("at once: %d notifications", len(got))
	}
	clock.advance(15 * time.Minute)
	send("2@appliance-b")
	eng.Evaluate(ctx, rule)
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("after 15m: %d notifications, want 1", len(got))
	}
	e := got[0]
	if e.Event != "fire" || e.Contact != "ops_fallback" || strings.Join(e.Via, ",") != "graph" {
		t.Errorf("notification: event %s, contact %s, via %v", e.Event, e.Contact, e.Via)
	}
	if want := "appliance-b: notifications through relay have failed for 15m: permanent error 535: 5.7.8 authentication failed"; e.Mail.Subject != want {
		t.Errorf("subject %q, want %q", e.Mail.Subject, want)
	}
	if !strings.Contains(e.Mail.Text, "relay: failing for 15m (2 failed attempts)") || !strings.Contains(e.Mail.Text, "Pending notifications: 0.") {
		t.Errorf("text:\n%s", e.Mail.Text)
	}

	// relay works again: the next message through it resolves the rule.
	ts.set("relay", nil)
	clock.advance(time.Minute)
	send("3@appliance-b")
	eng.Evaluate(ctx, rule)
	got = rec.take()
	if len(got) != 1 || got[0].Event != "resolve" || got[0].Mail.Subject != "Resolved: appliance-b: notifications go through again" {
		for _, e := range got {
			t.Logf("%s %q", e.Event, e.Mail.Subject)
		}
		t.Fatalf("after relay's success: %d notifications, want the resolve", len(got))
	}
}

// pendingCount is how many entries ob holds pending.
func pendingCount(t *testing.T, ob *outbox.Outbox) int {
	t.Helper()
	st, err := ob.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.Pending
}
