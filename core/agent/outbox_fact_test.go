package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/delivery"
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

// fakeStats serves outbox counts, or an error while err is set.
type fakeStats struct {
	mu  sync.Mutex
	st  outbox.Stats
	err error
}

func (f *fakeStats) stats() (outbox.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return outbox.Stats{}, f.err
	}
	return f.st, nil
}

func (f *fakeStats) set(st outbox.Stats, err error) {
	f.mu.Lock()
	f.st, f.err = st, err
	f.mu.Unlock()
}

func authFailed() *sdk.DeliveryError {
	return &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535", Reply: "5.7.8 authentication failed"}
}

func refused() *sdk.DeliveryError {
	return sdk.TemporaryError(errors.New("dial tcp 192.0.2.25:587: connection refused"), "", "")
}

func TestChannelWatch_streaks(t *testing.T) {
	entry := &outbox.Entry{ID: "a@x", Contact: "ops", Via: []string{"relay", "graph"}}
	dead := &outbox.Entry{ID: "b@x", Contact: "ops", Via: []string{"relay", "graph"}, Hop: 2,
		Last: &outbox.Attempt{Transport: "graph"}}
	noTransport := &outbox.Entry{ID: "c@x", Contact: "ops", Last: &outbox.Attempt{Transport: ""}}

	type step struct {
		advance time.Duration
		event   func(w *channelWatch)
	}
	retried := func(transport string, err *sdk.DeliveryError) step {
		return step{event: func(w *channelWatch) { w.Retried(entry, transport, err, time.Time{}) }}
	}
	sent := func(transport string) step {
		return step{event: func(w *channelWatch) { w.Sent(entry, transport, "250 ok", time.Millisecond) }}
	}
	wait := func(d time.Duration) step { return step{advance: d} }

	tests := []struct {
		name  string
		steps []step
		want  map[string]config.TransportStreak
	}{
		{
			name: "no event: no streak",
		},
		{
			name:  "a streak starts at its first failure and counts every one",
			steps: []step{retried("relay", refused()), wait(time.Minute), retried("relay", refused()), wait(4 * time.Minute), retried("relay", authFailed()), wait(time.Minute)},
			want: map[string]config.TransportStreak{
				"relay": {Failures: 3, FailingFor: 6 * time.Minute, LastError: "permanent error 535: 5.7.8 authentication failed"},
			},
		},
		{
			name: "a fallback counts against the transport left, not the next one",
			steps: []step{
				{event: func(w *channelWatch) { w.FellBack(entry, "relay", "graph", authFailed()) }},
				wait(2 * time.Minute),
			},
			want: map[string]config.TransportStreak{
				"relay": {Failures: 1, FailingFor: 2 * time.Minute, LastError: "permanent error 535: 5.7.8 authentication failed"},
			},
		},
		{
			name: "a dead letter counts against its last transport",
			steps: []step{
				{event: func(w *channelWatch) { w.DeadLettered(dead, refused()) }},
				wait(time.Minute),
			},
			want: map[string]config.TransportStreak{
				"graph": {Failures: 1, FailingFor: time.Minute, LastError: "temporary error: dial tcp 192.0.2.25:587: connection refused"},
			},
		},
		{
			name: "a dead letter without a transport counts against none",
			steps: []step{
				{event: func(w *channelWatch) {
					w.DeadLettered(noTransport, sdk.PermanentError(errors.New("no transport"), "", ""))
				}},
				{event: func(w *channelWatch) { w.DeadLettered(nil, nil) }},
			},
		},
		{
			name:  "a success ends its transport's streak only",
			steps: []step{retried("relay", refused()), retried("graph", refused()), wait(time.Minute), sent("relay"), wait(time.Minute)},
			want: map[string]config.TransportStreak{
				"graph": {Failures: 1, FailingFor: 2 * time.Minute, LastError: "temporary error: dial tcp 192.0.2.25:587: connection refused"},
			},
		},
		{
			name:  "a failure after a success starts a new streak",
			steps: []step{retried("relay", refused()), wait(30 * time.Minute), sent("relay"), wait(time.Minute), retried("relay", authFailed()), wait(time.Minute)},
			want: map[string]config.TransportStreak{
				"relay": {Failures: 1, FailingFor: time.Minute, LastError: "permanent error 535: 5.7.8 authentication failed"},
			},
		},
		{
			name: "a transport a reload removed is gone, not failing",
			steps: []step{
				retried("relay", refused()), retried("graph", refused()),
				{event: func(w *channelWatch) {
					w.FellBack(entry, "relay", "graph", sdk.PermanentError(fmt.Errorf("transport relay: %w", delivery.ErrUnknownTransport), "", ""))
				}},
			},
			want: map[string]config.TransportStreak{
				"graph": {Failures: 1, LastError: "temporary error: dial tcp 192.0.2.25:587: connection refused"},
			},
		},
		{
			name: "a message that cannot be built is not the transport's failure",
			steps: []step{
				{event: func(w *channelWatch) {
					w.FellBack(entry, "relay", "graph", sdk.PermanentError(fmt.Errorf("x: %w", delivery.ErrBuild), "", ""))
				}},
				retried("graph", refused()),
			},
			want: map[string]config.TransportStreak{
				"graph": {Failures: 1, LastError: "temporary error: dial tcp 192.0.2.25:587: connection refused"},
			},
		},
		{
			name:  "a nil error is a failure too",
			steps: []step{retried("relay", nil)},
			want:  map[string]config.TransportStreak{"relay": {Failures: 1, LastError: "failed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &watchClock{t: testNow}
			w := newChannelWatch(nil, nil, clock.now, nil)
			for _, s := range tt.steps {
				clock.advance(s.advance)
				if s.event != nil {
					s.event(w)
				}
			}
			got := w.fact().Failing
			if len(got) != len(tt.want) {
				t.Fatalf("failing = %+v, want %+v", got, tt.want)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("failing[%s] = %+v, want %+v", name, got[name], want)
				}
			}
		})
	}
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

func TestChannelWatch_forwards(t *testing.T) {
	next := &recordingObserver{}
	w := newChannelWatch(next, nil, nil, nil)
	e := &outbox.Entry{ID: "a@x", Via: []string{"relay", "graph"}, Last: &outbox.Attempt{Transport: "graph"}}
	w.Retried(e, "relay", refused(), time.Time{})
	w.FellBack(e, "relay", "graph", authFailed())
	w.DeadLettered(e, authFailed())
	w.Sent(e, "graph", "250 ok", time.Second)
	want := []string{"retried a@x relay ", "fell back a@x relay graph 535", "dead a@x 535", "sent a@x graph 250 ok"}
	got := next.list()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("forwarded %q, want %q", got, want)
	}
}

func TestChannelWatch_vars(t *testing.T) {
	clock := &watchClock{t: testNow}
	stats := &fakeStats{}
	w := newChannelWatch(nil, stats.stats, clock.now, nil)
	get := func() cty.Value {
		t.Helper()
		vars := map[string]cty.Value{"agent": cty.True}
		w.vars(vars)
		v, ok := vars["outbox"]
		if !ok || !vars["agent"].True() {
			t.Fatalf("vars = %v", vars)
		}
		if !v.Type().Equals(config.OutboxType) {
			t.Fatalf("outbox is a %s, want %s", v.Type().FriendlyName(), config.OutboxType.FriendlyName())
		}
		return v
	}
	num := func(v cty.Value, path ...string) int64 {
		t.Helper()
		for _, p := range path {
			v = v.GetAttr(p)
		}
		n, _ := v.AsBigFloat().Int64()
		return n
	}

	// Nothing pending, nothing failing: zeros and an empty map.
	v := get()
	for _, f := range []string{"pending", "dead", "oldest_age", "failing_for"} {
		if n := num(v, f); n != 0 {
			t.Errorf("empty outbox: %s = %d", f, n)
		}
	}
	if n := v.GetAttr("failing").LengthInt(); n != 0 {
		t.Errorf("empty outbox: %d failing", n)
	}

	// Counts from the outbox, ages from the clock, streaks from events.
	stats.set(outbox.Stats{Pending: 7, Dead: 2, OldestPending: testNow.Add(-90 * time.Second)}, nil)
	w.Retried(&outbox.Entry{ID: "a@x"}, "relay", authFailed(), time.Time{})
	clock.advance(10 * time.Minute)
	w.Retried(&outbox.Entry{ID: "b@x"}, "graph", refused(), time.Time{})
	clock.advance(5 * time.Minute)
	v = get()
	for f, want := range map[string]int64{"pending": 7, "dead": 2, "oldest_age": 90 + 15*60, "failing_for": 15 * 60} {
		if n := num(v, f); n != want {
			t.Errorf("%s = %d, want %d", f, n, want)
		}
	}
	failing := v.GetAttr("failing")
	if n := failing.LengthInt(); n != 2 {
		t.Fatalf("%d failing, want relay and graph", n)
	}
	relay := failing.Index(cty.StringVal("relay"))
	if num(relay, "failures") != 1 || num(relay, "failing_for") != 15*60 || relay.GetAttr("last_error").AsString() != "permanent error 535: 5.7.8 authentication failed" {
		t.Errorf("relay = %#v", relay)
	}
	if graph := failing.Index(cty.StringVal("graph")); num(graph, "failing_for") != 5*60 {
		t.Errorf("graph = %#v", graph)
	}

	// A rule reads it as the brief says: durations in duration()'s unit.
	expr, diags := hclsyntax.ParseExpression([]byte(`outbox.failing_for >= duration("15m") && outbox.failing.relay.failures == 1 && outbox.oldest_age > duration("16m")`), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vars := map[string]cty.Value{}
	w.vars(vars)
	holds, d := expr.Value(&hcl.EvalContext{Variables: vars, Functions: rules.Functions(clock.now)})
	if d.HasErrors() || !holds.True() {
		t.Errorf("condition = %#v, %v", holds, d)
	}
}

func TestChannelWatch_statsError(t *testing.T) {
	clock := &watchClock{t: testNow}
	stats := &fakeStats{}
	var logged strings.Builder
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	})})
	w := newChannelWatch(nil, stats.stats, clock.now, logger)

	stats.set(outbox.Stats{Pending: 3, OldestPending: testNow}, nil)
	if f := w.fact(); f.Pending != 3 {
		t.Fatalf("pending = %d", f.Pending)
	}
	stats.set(outbox.Stats{}, errors.New("count outbox entries: outbox is closed"))
	clock.advance(time.Minute)
	for range 3 {
		// The last counts stay, the age grows.
		if f := w.fact(); f.Pending != 3 || f.OldestAge != time.Minute {
			t.Errorf("while failing: %+v", f)
		}
	}
	stats.set(outbox.Stats{Pending: 1, OldestPending: testNow}, nil)
	if f := w.fact(); f.Pending != 1 {
		t.Errorf("after recovery: %+v", f)
	}
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	if n := strings.Count(out, "cannot count the outbox"); n != 1 {
		t.Errorf("the error was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "outbox is closed") || !strings.Contains(out, "can be counted again") {
		t.Errorf("log:\n%s", out)
	}
}

func TestChannelWatch_retain(t *testing.T) {
	w := newChannelWatch(nil, nil, nil, nil)
	for _, tr := range []string{"relay", "graph", "gmail"} {
		w.Retried(&outbox.Entry{ID: "a@x"}, tr, refused(), time.Time{})
	}
	w.retain([]string{"graph", "new"})
	f := w.fact()
	if _, ok := f.Failing["graph"]; !ok || len(f.Failing) != 1 {
		t.Errorf("failing = %+v, want graph only", f.Failing)
	}
}

// TestChannelWatch_concurrent: events from many deliveries at once and
// rules reading the variable at the same time lose nothing: every event
// is forwarded, every failure counted, and each reader sees a streak only
// grow.
func TestChannelWatch_concurrent(t *testing.T) {
	const (
		rounds  = 200
		writers = 4 // half on relay, half on graph
		readers = 4
	)
	stats := &fakeStats{st: outbox.Stats{Pending: 5, Dead: 1}}
	clock := &watchClock{t: testNow}
	next := &recordingObserver{}
	w := newChannelWatch(next, stats.stats, clock.now, nil)
	failures := func(v cty.Value, tr string) int64 {
		f, key := v.GetAttr("failing"), cty.StringVal(tr)
		if !f.HasIndex(key).True() {
			return 0
		}
		n, _ := f.Index(key).GetAttr("failures").AsBigFloat().Int64()
		return n
	}
	var wg sync.WaitGroup
	for i := range writers {
		tr := []string{"relay", "graph"}[i%2]
		wg.Go(func() {
			for range rounds {
				e := &outbox.Entry{ID: "a@x", Last: &outbox.Attempt{Transport: tr}}
				w.Retried(e, tr, refused(), time.Time{})
				w.FellBack(e, tr, "x", authFailed())
				w.DeadLettered(e, authFailed())
			}
		})
	}
	// gmail fails and recovers in turn: its streak ends with its last send.
	wg.Go(func() {
		for range rounds {
			e := &outbox.Entry{ID: "g@x", Last: &outbox.Attempt{Transport: "gmail"}}
			w.Retried(e, "gmail", refused(), time.Time{})
			w.Sent(e, "gmail", "250 ok", 0)
		}
	})
	for range readers {
		wg.Go(func() {
			var last map[string]int64
			for range rounds {
				vars := map[string]cty.Value{}
				w.vars(vars)
				v := vars["outbox"]
				if n, _ := v.GetAttr("pending").AsBigFloat().Int64(); n != 5 {
					t.Errorf("a reader saw %d pending, want 5", n)
					return
				}
				seen := map[string]int64{"relay": failures(v, "relay"), "graph": failures(v, "graph")}
				for tr, n := range seen {
					if n < last[tr] || n > writers/2*rounds*3 {
						t.Errorf("a reader saw %s's failures go from %d to %d", tr, last[tr], n)
						return
					}
				}
				last = seen
			}
		})
	}
	wg.Wait()

	want := map[string]config.TransportStreak{
		"relay": {Failures: writers / 2 * rounds * 3, LastError: "permanent error 535: 5.7.8 authentication failed"},
		"graph": {Failures: writers / 2 * rounds * 3, LastError: "permanent error 535: 5.7.8 authentication failed"},
	}
	if got := w.fact().Failing; !reflect.DeepEqual(got, want) {
		t.Errorf("streaks = %+v, want %+v", got, want)
	}
	kinds := map[string]int{}
	for _, ev := range next.list() {
		kinds[strings.SplitN(ev, " ", 2)[0]]++
	}
	wantKinds := map[string]int{"retried": (writers + 1) * rounds, "fell": writers * rounds, "dead": writers * rounds, "sent": rounds}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("forwarded %v, want %v", kinds, wantKinds)
	}
}

func TestTruncateError(t *testing.T) {
	if got := truncateError("short", 10); got != "short" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("é", 400) // 800 bytes
	got := truncateError(long, maxStreakError)
	if len(got) > maxStreakError || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("cut to %d bytes, valid %v: %q", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
	// A streak keeps the cut error.
	w := newChannelWatch(nil, nil, nil, nil)
	w.Retried(&outbox.Entry{}, "relay", sdk.TemporaryError(errors.New(long+"\xff"), "", ""), time.Time{})
	if le := w.fact().Failing["relay"].LastError; len(le) > maxStreakError || !utf8.ValidString(le) {
		t.Errorf("last error of %d bytes, valid %v", len(le), utf8.ValidString(le))
	}
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

func (r *entryRecorder) enqueue(_ context.Context, _ []outbox.Mark, entries []*outbox.Entry) error {
	r.mu.Lock()
	r.entries = append(r.entries, entries...)
	r.mu.Unlock()
	return nil
}

func (r *entryRecorder) marks() (map[string]outbox.Mark, error) { return nil, nil }

func (r *entryRecorder) take() []*outbox.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.entries
	r.entries = nil
	return out
}

// TestChannelWatch_dispatcherToEngine runs the real outbox and dispatcher
// with the watch as their observer, and the engine, with the watch's vars
// as its moreVars, evaluates the library's delivery_failing rule: a
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
	w := newChannelWatch(next, ob.Stats, clock.now, nil)
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
	eng, err := newEngine(cfg, hclog.NewNullLogger(), rec, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.close)
	eng.moreVars = w.vars

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
	eng.evaluate(ctx, rule)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("at once: %d notifications", len(got))
	}
	clock.advance(15 * time.Minute)
	send("2@appliance-b")
	eng.evaluate(ctx, rule)
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
	eng.evaluate(ctx, rule)
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
