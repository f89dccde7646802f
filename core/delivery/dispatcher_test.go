package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fixed is a policy with exact delays: no jitter.
var fixed = Policy{Initial: 10 * time.Second, Max: 35 * time.Second, Multiplier: 2, MaxAge: 24 * time.Hour, BatchSize: 50, Concurrency: 4}

func TestDispatcher_Run_success(t *testing.T) {
	tests := []struct {
		name      string
		batch     bool
		n         int
		batchSize int
		wantSends int
	}{
		{name: "batch transport, one Send per BatchSize", batch: true, n: 120, batchSize: 50, wantSends: 3},
		{name: "batch transport, one small batch", batch: true, n: 7, batchSize: 50, wantSends: 1},
		{name: "batch transport, batches of 1", batch: true, n: 5, batchSize: 1, wantSends: 5},
		{name: "non-batch transport, one message per Send", batch: false, n: 12, batchSize: 50, wantSends: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			all := entries("ok", tt.n, "smtp")
			q := newQueue(clk.Now, all...)
			ft := newTransports().add("smtp", tt.batch, nil)
			rec := &recorder{}
			p := fixed
			p.BatchSize = tt.batchSize
			start(t, q, ft, p, rec, WithClock(clk.Now))

			eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
			calls := ft.callsTo("smtp")
			if len(calls) != tt.wantSends {
				t.Errorf("%d Sends, want %d", len(calls), tt.wantSends)
			}
			var sent []string
			for _, c := range calls {
				if len(c) > tt.batchSize || (!tt.batch && len(c) != 1) {
					t.Errorf("a Send of %d messages (batch %v, size %d)", len(c), tt.batch, tt.batchSize)
				}
				sent = append(sent, c...)
			}
			slices.Sort(sent)
			if len(sent) != tt.n || len(slices.Compact(sent)) != tt.n {
				t.Errorf("sent %d messages, %d distinct, want %d once each", len(sent), len(slices.Compact(sent)), tt.n)
			}
			for _, e := range all {
				if got := q.doneCount(e.ID); got != 1 {
					t.Errorf("%s done %d times", e.ID, got)
				}
			}
			eventually(t, "every Sent event", func() bool { return rec.count("sent") == tt.n })
			for _, ev := range rec.all() {
				if ev.kind != "sent" || ev.transport != "smtp" || !strings.HasPrefix(ev.receipt, "250 ") {
					t.Errorf("unexpected event %+v", ev)
				}
			}
			q.check(t)
		})
	}
}

func TestDispatcher_Run_temporaryBackoff(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
	temp := &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: "451 4.3.0 Try again later", Remedy: "Wait.", Err: errors.New("try again")}
	ft := newTransports().add("smtp", true, fail(temp))
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))

	// Initial 10s, doubling, capped at 35s, no jitter.
	steps := []struct {
		advance time.Duration
		next    time.Duration // from t0
	}{
		{0, 10 * time.Second},
		{10 * time.Second, 30 * time.Second},
		{20 * time.Second, 65 * time.Second},
		{35 * time.Second, 100 * time.Second},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		d.Kick()
		attempts := i + 1
		eventually(t, "the attempt to be saved", func() bool {
			e := q.get("a@tocsin.test")
			return e.Attempts == attempts
		})
		settle(t, d.Dispatcher, ft)
		e := q.get("a@tocsin.test")
		if want := t0.Add(s.next); !e.NextAttempt.Equal(want) {
			t.Errorf("attempt %d: next attempt %v, want %v", attempts, e.NextAttempt.Sub(t0), s.next)
		}
		if e.TotalAttempts != attempts || e.Hop != 0 || e.State != outbox.Pending || !e.HopSince.Equal(t0) {
			t.Errorf("attempt %d: entry %+v", attempts, e)
		}
		if e.Last == nil || e.Last.Kind != "temporary" || e.Last.Code != "451 4.3.0" || e.Last.Reply != "451 4.3.0 Try again later" || e.Last.Remedy != "Wait." || e.Last.Transport != "smtp" || !e.Last.At.Equal(clk.Now()) {
			t.Errorf("attempt %d: last %+v", attempts, e.Last)
		}
		if got := len(ft.callsTo("smtp")); got != attempts {
			t.Errorf("attempt %d: %d Sends", attempts, got)
		}
	}
	evs := rec.all()
	if len(evs) != len(steps) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(steps), evs)
	}
	for i, ev := range evs {
		if ev.kind != "retried" || ev.code != "451 4.3.0" || !ev.next.Equal(t0.Add(steps[i].next)) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	q.check(t)
}

func TestDispatcher_Run_jitter(t *testing.T) {
	tests := []struct {
		name string
		r    float64
		want time.Duration
	}{
		{name: "low", r: 0, want: 8 * time.Second},
		{name: "middle", r: 0.5, want: 10 * time.Second},
		{name: "high", r: 0.75, want: 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
			ft := newTransports().add("smtp", true, fail(sdk.TemporaryError(errors.New("busy"), "421", "")))
			p := fixed
			p.Jitter = 0.2
			d := start(t, q, ft, p, nil, WithClock(clk.Now), WithRand(func() float64 { return tt.r }))
			eventually(t, "the attempt", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
			settle(t, d.Dispatcher, ft)
			if got := q.get("a@tocsin.test").NextAttempt.Sub(t0); got != tt.want {
				t.Errorf("next attempt after %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDispatcher_Run_retryAfter(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("g1@tocsin.test", "graph"), entry("g2@tocsin.test", "graph"), entry("s1@tocsin.test", "smtp"))
	var mu sync.Mutex
	limited := true
	ft := newTransports().
		add("graph", false, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			if limited {
				limited = false
				return nil, &sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", Reply: "ApplicationThrottled", RetryAfter: 5 * time.Minute, Err: errors.New("too many requests")}
			}
			return accept(ctx, msgs)
		}).
		add("smtp", true, nil)
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))

	pauseEnd := t0.Add(5 * time.Minute)
	eventually(t, "g2 to wait for the end of the pause", func() bool {
		return q.get("g2@tocsin.test").NextAttempt.Equal(pauseEnd) && q.get("s1@tocsin.test") == nil
	})
	settle(t, d.Dispatcher, ft)
	g1 := q.get("g1@tocsin.test")
	if !g1.NextAttempt.Equal(pauseEnd) || g1.Attempts != 1 || g1.Last == nil || g1.Last.Wait != 5*time.Minute || g1.Last.Code != "429" {
		t.Errorf("g1: next %v, attempts %d, last %+v; want Retry-After (5m) to win over the 10s backoff", g1.NextAttempt.Sub(t0), g1.Attempts, g1.Last)
	}
	g2 := q.get("g2@tocsin.test")
	if g2.Attempts != 0 || g2.TotalAttempts != 0 || g2.Last != nil {
		t.Errorf("g2 was held by the pause, yet attempts %d/%d, last %+v", g2.Attempts, g2.TotalAttempts, g2.Last)
	}
	if got := len(ft.callsTo("graph")); got != 1 {
		t.Errorf("%d Sends to graph during its pause, want 1", got)
	}

	// An entry that becomes due during the pause is deferred too, without
	// an attempt; the other transport goes on.
	g3 := entry("g3@tocsin.test", "graph")
	g3.NextAttempt = t0.Add(time.Minute)
	q.add(g3)
	s2 := entry("s2@tocsin.test", "smtp")
	s2.NextAttempt = t0.Add(time.Minute)
	q.add(s2)
	clk.Advance(time.Minute)
	d.Kick()
	eventually(t, "g3 to be deferred and s2 sent", func() bool {
		return q.get("g3@tocsin.test").NextAttempt.Equal(pauseEnd) && q.get("s2@tocsin.test") == nil
	})
	if e := q.get("g3@tocsin.test"); e.Attempts != 0 || e.Last != nil {
		t.Errorf("g3 deferred with an attempt: %+v", e)
	}
	if got := len(ft.callsTo("graph")); got != 1 {
		t.Errorf("%d Sends to graph during its pause, want 1", got)
	}

	clk.Advance(4 * time.Minute)
	d.Kick()
	eventually(t, "the outbox to empty after the pause", func() bool { return q.len() == 0 })
	if got := len(ft.callsTo("graph")); got != 4 {
		t.Errorf("%d Sends to graph, want 4 (one 429, then one per message)", got)
	}
	if n := rec.count("retried"); n != 1 {
		t.Errorf("%d Retried events, want 1 (deferrals are not retries)", n)
	}
	q.check(t)
}

// TestDispatcher_Run_retryAfterLongestWins: when the messages of one
// batch come back with different Retry-After waits, the transport pauses
// for the longest, whatever their order: a shorter wait never shortens a
// longer pause, so nothing is sent while the provider asked to wait.
func TestDispatcher_Run_retryAfterLongestWins(t *testing.T) {
	const longer = 10 * time.Minute
	tests := []struct {
		name  string
		waits []time.Duration // per message of the batch, in order
		early string          // the entry due first, during the pause
	}{
		{name: "longer first", waits: []time.Duration{longer, time.Minute}, early: "g2@tocsin.test"},
		{name: "longer last", waits: []time.Duration{time.Minute, longer}, early: "g1@tocsin.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("g1@tocsin.test", "graph"), entry("g2@tocsin.test", "graph"))
			var once sync.Once
			ft := newTransports().add("graph", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				first := false
				once.Do(func() { first = true })
				if !first {
					return accept(ctx, msgs)
				}
				if len(msgs) != len(tt.waits) {
					return nil, fmt.Errorf("a first batch of %d messages, want %d", len(msgs), len(tt.waits))
				}
				out := make([]sdk.Result, len(msgs))
				for i, m := range msgs {
					out[i] = sdk.Result{MessageID: m.ID, Err: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: tt.waits[i], Err: errors.New("throttled")}}
				}
				return out, nil
			})
			d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
			pauseEnd := t0.Add(longer)

			eventually(t, "the throttled batch", func() bool {
				return q.get("g1@tocsin.test").Attempts == 1 && q.get("g2@tocsin.test").Attempts == 1
			})
			settle(t, d.Dispatcher, ft)
			if got := d.Holds()["graph"].PausedUntil; !got.Equal(pauseEnd) {
				t.Errorf("graph paused until %v, want %v", got.Sub(t0), longer)
			}

			// The entry with the shorter wait falls due during the pause: it
			// is deferred to the pause's end, not sent.
			clk.Advance(time.Minute)
			d.Kick()
			eventually(t, tt.early+" to be deferred or sent", func() bool {
				e := q.get(tt.early)
				return e == nil || e.NextAttempt.Equal(pauseEnd)
			})
			settle(t, d.Dispatcher, ft)
			if got := len(ft.callsTo("graph")); got != 1 {
				t.Fatalf("%d Sends to graph 1m into a %v Retry-After, want 1; Sends %v", got, longer, ft.callsTo("graph"))
			}

			clk.Advance(longer - time.Minute)
			d.Kick()
			eventually(t, "the outbox to empty after the pause", func() bool { return q.len() == 0 })
			if got := ft.callsTo("graph"); len(got) != 2 || len(got[1]) != 2 {
				t.Errorf("Sends to graph %v, want the throttled batch, then both again in one", got)
			}
			q.check(t)
		})
	}
}

func TestDispatcher_Run_maxAge(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "primary", "fallback"))
	ft := newTransports().
		add("primary", true, fail(sdk.TemporaryError(errors.New("connection refused"), "", ""))).
		add("fallback", true, nil)
	rec := &recorder{}
	p := fixed
	p.MaxAge = 30 * time.Second
	d := start(t, q, ft, p, rec, WithClock(clk.Now))

	eventually(t, "attempt 1", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
	settle(t, d.Dispatcher, ft)
	clk.Advance(10 * time.Second) // attempt 2 at +10s, age 10s: retry at +30s
	d.Kick()
	eventually(t, "attempt 2", func() bool { return q.get("a@tocsin.test").Attempts == 2 })
	settle(t, d.Dispatcher, ft)
	if got := q.get("a@tocsin.test").NextAttempt; !got.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("attempt 3 due at %v, want +30s", got.Sub(t0))
	}
	clk.Advance(20 * time.Second) // attempt 3 at +30s: failing for 30s, the max age
	d.Kick()
	eventually(t, "the fallback to send", func() bool { return q.len() == 0 })
	if got := len(ft.callsTo("primary")); got != 3 {
		t.Errorf("%d Sends to primary, want 3", got)
	}
	if got := len(ft.callsTo("fallback")); got != 1 {
		t.Errorf("%d Sends to fallback, want 1", got)
	}
	want := []string{"retried", "retried", "fellback", "sent"}
	var got []string
	for _, ev := range rec.all() {
		got = append(got, ev.kind)
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	q.check(t)
}

// TestDispatcher_Run_maxAgePerHop: each transport of a via list gets its
// own max_age. Once the first has failed for max_age, the fallback's
// first temporary failure is retried on the fallback, not dead-lettered:
// the alert must not be lost exactly when the fallback is needed.
func TestDispatcher_Run_maxAgePerHop(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "primary", "fallback"))
	busy := sdk.TemporaryError(errors.New("421 try later"), "421", "")
	var mu sync.Mutex
	fallbackCalls := 0
	ft := newTransports().
		add("primary", true, fail(sdk.TemporaryError(errors.New("connection refused"), "", ""))).
		add("fallback", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
			mu.Lock()
			fallbackCalls++
			first := fallbackCalls == 1
			mu.Unlock()
			if first {
				return fail(busy)(ctx, msgs)
			}
			return accept(ctx, msgs)
		})
	rec := &recorder{}
	p := fixed
	p.MaxAge = 30 * time.Second
	d := start(t, q, ft, p, rec, WithClock(clk.Now))

	eventually(t, "attempt 1 on primary", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
	settle(t, d.Dispatcher, ft)
	// Attempt 2 on primary at +30s: failing for max_age, so the fallback
	// takes over at once and fails temporarily on its first attempt.
	clk.Advance(30 * time.Second)
	d.Kick()
	eventually(t, "the first attempt on fallback", func() bool {
		e := q.get("a@tocsin.test")
		return (e.Hop == 1 && e.Attempts == 1) || e.State != outbox.Pending
	})
	settle(t, d.Dispatcher, ft)
	e := q.get("a@tocsin.test")
	hopStart := t0.Add(30 * time.Second)
	if e.State != outbox.Pending || e.Hop != 1 || !e.HopSince.Equal(hopStart) || !e.NextAttempt.Equal(hopStart.Add(10*time.Second)) {
		t.Fatalf("after fallback's first temporary failure: state %v, hop %d, hop since %v, next attempt %v; want pending on hop 1 since +30s, retried at +40s",
			e.State, e.Hop, e.HopSince.Sub(t0), e.NextAttempt.Sub(t0))
	}
	clk.Advance(10 * time.Second)
	d.Kick()
	eventually(t, "the fallback to send", func() bool { return q.len() == 0 })
	want := []string{"retried primary", "fellback primary>fallback", "retried fallback", "sent fallback"}
	var got []string
	for _, ev := range rec.all() {
		s := ev.kind + " " + ev.transport
		if ev.kind == "fellback" {
			s += ">" + ev.to
		}
		got = append(got, s)
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	q.check(t)
}

func TestDispatcher_Run_permanent(t *testing.T) {
	perm535 := &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.3", Reply: "535 5.7.3 Authentication unsuccessful", Remedy: "Check the password.", Err: errors.New("auth failed")}
	perm550 := &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.7.1", Reply: "550 5.7.1 Sender not allowed", Remedy: "Let the account send as the From address.", Err: errors.New("rejected")}
	tests := []struct {
		name       string
		via        []string
		transports func(*fakeTransports)
		wantDone   bool
		wantCalls  map[string]int
		wantEvents []string
		check      func(t *testing.T, e *outbox.Entry)
	}{
		{
			name: "permanent on hop 0 moves to hop 1 at once",
			via:  []string{"smtp", "graph"},
			transports: func(ft *fakeTransports) {
				ft.add("smtp", true, fail(perm535)).add("graph", false, nil)
			},
			wantDone:   true,
			wantCalls:  map[string]int{"smtp": 1, "graph": 1},
			wantEvents: []string{"fellback smtp>graph 535 5.7.3", "sent graph"},
		},
		{
			name: "batch-level permanent error moves to hop 1",
			via:  []string{"smtp", "graph"},
			transports: func(ft *fakeTransports) {
				ft.add("smtp", true, func(context.Context, []*sdk.Message) ([]sdk.Result, error) { return nil, perm535 }).add("graph", false, nil)
			},
			wantDone:   true,
			wantCalls:  map[string]int{"smtp": 1, "graph": 1},
			wantEvents: []string{"fellback smtp>graph 535 5.7.3", "sent graph"},
		},
		{
			name:       "unknown transport (removed by a reload) is permanent for its hop",
			via:        []string{"gone", "graph"},
			transports: func(ft *fakeTransports) { ft.add("graph", false, nil) },
			wantDone:   true,
			wantCalls:  map[string]int{"gone": 0, "graph": 1},
			wantEvents: []string{"fellback gone>graph ", "sent graph"},
		},
		{
			// From knew it, then a reload removed the transport before
			// Send: retrying there for max_age would only delay the alert.
			name: "unknown transport at Send (removed by a reload) is permanent for its hop",
			via:  []string{"gone", "graph"},
			transports: func(ft *fakeTransports) {
				ft.add("gone", true, func(context.Context, []*sdk.Message) ([]sdk.Result, error) {
					return nil, fmt.Errorf("transport %q: %w", "gone", ErrUnknownTransport)
				}).add("graph", false, nil)
			},
			wantDone:   true,
			wantCalls:  map[string]int{"gone": 1, "graph": 1},
			wantEvents: []string{"fellback gone>graph ", "sent graph"},
		},
		{
			name: "a message that cannot be built (an unusable sender) is permanent for its hop",
			via:  []string{"smtp", "graph"},
			transports: func(ft *fakeTransports) {
				ft.add("smtp", true, nil).add("graph", false, nil)
				ft.badFrom["smtp"] = errors.New("transport smtp: from: mail: no angle-addr")
				ft.badFrom["graph"] = errors.New("transport graph: from: mail: no angle-addr")
			},
			wantCalls:  map[string]int{"smtp": 0, "graph": 0},
			wantEvents: []string{"fellback smtp>graph ", "dead "},
			check: func(t *testing.T, e *outbox.Entry) {
				if e.Last == nil || e.Last.Kind != "permanent" || e.Last.Transport != "graph" || !strings.Contains(e.Last.Error, "build message for transport graph: transport graph: from: mail: no angle-addr") || e.Last.Remedy != remedyBuild {
					t.Errorf("last %+v", e.Last)
				}
			},
		},
		{
			name: "exhausted chain: dead, with the last error",
			via:  []string{"smtp", "graph"},
			transports: func(ft *fakeTransports) {
				ft.add("smtp", true, fail(perm535)).add("graph", false, fail(perm550))
			},
			wantCalls:  map[string]int{"smtp": 1, "graph": 1},
			wantEvents: []string{"fellback smtp>graph 535 5.7.3", "dead 550 5.7.1"},
			check: func(t *testing.T, e *outbox.Entry) {
				want := outbox.Attempt{
					At: t0, Transport: "graph", Kind: "permanent", Code: "550 5.7.1",
					Reply: "550 5.7.1 Sender not allowed", Remedy: "Let the account send as the From address.",
					Error: "permanent error 550 5.7.1: rejected",
				}
				if e.Last == nil || *e.Last != want {
					t.Errorf("last %+v, want %+v", e.Last, want)
				}
				if e.Hop != 2 || e.TotalAttempts != 2 || e.Attempts != 0 {
					t.Errorf("hop %d, attempts %d/%d", e.Hop, e.Attempts, e.TotalAttempts)
				}
			},
		},
		{
			name:       "no chain at all: dead",
			via:        nil,
			transports: func(*fakeTransports) {},
			wantCalls:  map[string]int{},
			wantEvents: []string{"dead "},
			check: func(t *testing.T, e *outbox.Entry) {
				if e.Last == nil || e.Last.Kind != "permanent" || !strings.Contains(e.Last.Error, errNoTransport.Error()) {
					t.Errorf("last %+v", e.Last)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock() // never advanced: nothing may wait for a backoff
			e := entry("a@tocsin.test", tt.via...)
			q := newQueue(clk.Now, e)
			ft := newTransports()
			tt.transports(ft)
			rec := &recorder{}
			d := start(t, q, ft, fixed, rec, WithClock(clk.Now))

			eventually(t, "the entry to be sent or dead", func() bool {
				e := q.get("a@tocsin.test")
				return e == nil || e.State == outbox.Dead
			})
			settle(t, d.Dispatcher, ft)
			got := q.get("a@tocsin.test")
			if tt.wantDone != (got == nil) {
				t.Fatalf("entry %+v, want done %v", got, tt.wantDone)
			}
			if !tt.wantDone && got.State != outbox.Dead {
				t.Errorf("state %q, want dead", got.State)
			}
			for name, n := range tt.wantCalls {
				if c := len(ft.callsTo(name)); c != n {
					t.Errorf("%d Sends to %s, want %d", c, name, n)
				}
			}
			var evs []string
			for _, ev := range rec.all() {
				switch ev.kind {
				case "fellback":
					evs = append(evs, ev.kind+" "+ev.transport+">"+ev.to+" "+ev.code)
				case "sent":
					evs = append(evs, ev.kind+" "+ev.transport)
				default:
					evs = append(evs, ev.kind+" "+ev.code)
				}
			}
			if !slices.Equal(evs, tt.wantEvents) {
				t.Errorf("events %q, want %q", evs, tt.wantEvents)
			}
			if tt.check != nil && got != nil {
				tt.check(t, got)
			}
			q.check(t)
		})
	}
}

func TestDispatcher_Run_batchResults(t *testing.T) {
	temp := &sdk.DeliveryError{Kind: sdk.Temporary, Code: "421 4.7.0", Reply: "421 4.7.0 Too busy", Err: errors.New("busy")}
	tests := []struct {
		name string
		send sendFunc
		// want per entry (0, 1, 2): "done", "retry" or "fallback".
		want  [3]string
		check func(t *testing.T, e *outbox.Entry)
	}{
		{
			name: "batch-level temporary error applies to every message",
			send: func(context.Context, []*sdk.Message) ([]sdk.Result, error) { return nil, temp },
			want: [3]string{"retry", "retry", "retry"},
			check: func(t *testing.T, e *outbox.Entry) {
				if e.Last.Code != "421 4.7.0" || e.Last.Reply != "421 4.7.0 Too busy" {
					t.Errorf("%s: last %+v", e.ID, e.Last)
				}
			},
		},
		{
			name: "an unclassified batch error is temporary",
			send: func(context.Context, []*sdk.Message) ([]sdk.Result, error) {
				return nil, errors.New("plugin process exited")
			},
			want: [3]string{"retry", "retry", "retry"},
			check: func(t *testing.T, e *outbox.Entry) {
				if e.Last.Kind != "temporary" || !strings.Contains(e.Last.Error, "plugin process exited") {
					t.Errorf("%s: last %+v", e.ID, e.Last)
				}
			},
		},
		{
			name: "mismatched result count is a temporary batch error",
			send: func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				r, err := accept(ctx, msgs)
				return r[:2], err
			},
			want: [3]string{"retry", "retry", "retry"},
			check: func(t *testing.T, e *outbox.Entry) {
				if e.Last.Kind != "temporary" || !strings.Contains(e.Last.Error, "returned 2 results for 3 messages") {
					t.Errorf("%s: last %+v", e.ID, e.Last)
				}
			},
		},
		{
			name: "too many results is a temporary batch error",
			send: func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				r, err := accept(ctx, msgs)
				return append(r, sdk.Result{}), err
			},
			want: [3]string{"retry", "retry", "retry"},
		},
		{
			name: "each result on its own",
			send: func(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				return []sdk.Result{
					{MessageID: msgs[0].ID, Receipt: "250 ok"},
					{MessageID: msgs[1].ID, Err: sdk.PermanentError(errors.New("no such user"), "550 5.1.1", "")},
					{MessageID: msgs[2].ID, Err: temp},
				}, nil
			},
			want: [3]string{"done", "fallback", "retry"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			all := entries("b", 3, "smtp", "graph")
			q := newQueue(clk.Now, all...)
			ft := newTransports().add("smtp", true, tt.send).add("graph", false, nil)
			d := start(t, q, ft, fixed, nil, WithClock(clk.Now))

			eventually(t, "every entry to be handled", func() bool {
				for i, e := range all {
					got := q.get(e.ID)
					switch tt.want[i] {
					case "done", "fallback":
						if got != nil {
							return false
						}
					case "retry":
						if got == nil || got.Attempts != 1 {
							return false
						}
					}
				}
				return true
			})
			settle(t, d.Dispatcher, ft)
			if calls := ft.callsTo("smtp"); len(calls) != 1 || len(calls[0]) != 3 {
				t.Errorf("Sends to smtp %v, want one of 3", calls)
			}
			var fallback []string
			for i, e := range all {
				switch tt.want[i] {
				case "fallback":
					fallback = append(fallback, e.ID)
				case "retry":
					got := q.get(e.ID)
					if !got.NextAttempt.Equal(t0.Add(10*time.Second)) || got.Hop != 0 || got.Last == nil {
						t.Errorf("%s: %+v", e.ID, got)
					}
					if tt.check != nil {
						tt.check(t, got)
					}
				}
			}
			var viaGraph []string
			for _, c := range ft.callsTo("graph") {
				viaGraph = append(viaGraph, c...)
			}
			if !slices.Equal(viaGraph, fallback) {
				t.Errorf("graph sent %v, want %v", viaGraph, fallback)
			}
			q.check(t)
		})
	}
}

// stopWhileSending stops d, which ran started, while the Sends of a
// blocking(release) transport are in flight (what says which): Stop must
// wait for them, and returns once release lets them finish; Stop and Run
// then return no error.
func stopWhileSending(t *testing.T, d *Dispatcher, ran <-chan error, release chan struct{}, what string) {
	t.Helper()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- d.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v with %s", err, what)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// blocking is a transport whose Sends block until release is closed or
// their context ends.
func blocking(release <-chan struct{}) sendFunc {
	return func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		select {
		case <-release:
			return accept(ctx, msgs)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func TestDispatcher_Stop_drains(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := newClock()
	q := newQueue(clk.Now, entry("a1@tocsin.test", "slow"), entry("a2@tocsin.test", "slow"), entry("b@tocsin.test", "fast"))
	release := make(chan struct{})
	ft := newTransports().add("slow", false, blocking(release)).add("fast", false, nil)
	p := fixed
	p.SendsPerTransport = 1 // a2 waits behind a1 (TestDispatcher_Stop_drainsEverySendOfALane has both in flight)
	d := New(q, ft, p, nil, nil, WithClock(clk.Now))
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()

	eventually(t, "the slow send to be in flight and the fast one done", func() bool {
		return len(ft.callsTo("slow")) == 1 && q.get("b@tocsin.test") == nil
	})
	stopWhileSending(t, d, ran, release, "a send in flight")
	if q.get("a1@tocsin.test") != nil || q.doneCount("a1@tocsin.test") != 1 {
		t.Errorf("the send in flight was not recorded as done")
	}
	// a2 waited behind a1 in the lane: a stopping dispatcher takes no
	// new work, and leaves it untouched.
	if got := len(ft.callsTo("slow")); got != 1 {
		t.Errorf("%d Sends to slow after Stop, want 1", got)
	}
	if e := q.get("a2@tocsin.test"); e == nil || e.Attempts != 0 || e.State != outbox.Pending {
		t.Errorf("a2 = %+v, want pending and untouched", e)
	}
	if g := goroutines(before + 1); g > before+1 {
		t.Errorf("%d goroutines after Stop, %d before", g, before)
	}
	q.check(t)
}

func TestDispatcher_Stop_deadline(t *testing.T) {
	tests := []struct {
		name string
		stop func(d *Dispatcher, cancelRun context.CancelFunc) error
	}{
		{
			name: "Stop with a short deadline",
			stop: func(d *Dispatcher, _ context.CancelFunc) error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				defer cancel()
				return d.Stop(ctx)
			},
		},
		{
			name: "Run's context ends, then Stop with a short deadline",
			stop: func(d *Dispatcher, cancelRun context.CancelFunc) error {
				cancelRun()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				defer cancel()
				return d.Stop(ctx)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			clk := newClock()
			q := newQueue(clk.Now, entries("s", 3, "stuck")...)
			ft := newTransports().add("stuck", true, blocking(nil))
			rec := &recorder{}
			d := New(q, ft, fixed, rec, nil, WithClock(clk.Now))
			runCtx, cancelRun := context.WithCancel(context.Background())
			defer cancelRun()
			ran := make(chan error, 1)
			go func() { ran <- d.Run(runCtx) }()
			eventually(t, "the send to be in flight", func() bool { return len(ft.callsTo("stuck")) == 1 })

			begin := time.Now()
			err := tt.stop(d, cancelRun)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop = %v, want the deadline", err)
			}
			if took := time.Since(begin); took > abortGrace {
				t.Errorf("Stop took %v", took)
			}
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Run did not return after Stop")
			}
			if q.len() != 3 {
				t.Errorf("%d entries left, want 3", q.len())
			}
			for _, e := range entries("s", 3, "stuck") {
				got := q.get(e.ID)
				if got.State != outbox.Pending || got.Attempts != 0 || got.TotalAttempts != 0 || got.Last != nil || !got.NextAttempt.Equal(t0) || q.doneCount(e.ID) != 0 {
					t.Errorf("%s = %+v, want pending and untouched", e.ID, got)
				}
			}
			if evs := rec.all(); len(evs) != 0 {
				t.Errorf("events for a cancelled send: %+v", evs)
			}
			if g := goroutines(before); g > before {
				t.Errorf("%d goroutines after Stop, %d before", g, before)
			}
			q.check(t)
		})
	}
}

func TestDispatcher_Stop_beforeRun(t *testing.T) {
	q := newQueue(time.Now, entry("a@tocsin.test", "smtp"))
	ft := newTransports().add("smtp", true, nil)
	d := New(q, ft, fixed, nil, nil)
	if err := d.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if q.len() != 1 || len(ft.callsTo("smtp")) != 0 {
		t.Error("a stopped dispatcher sent")
	}
	if err := d.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
}

func TestDispatcher_Run_concurrency(t *testing.T) {
	t.Run("a slow transport does not block another", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, append(entries("slow", 3, "slow"), entries("fast", 20, "fast")...)...)
		release := make(chan struct{})
		ft := newTransports().add("slow", false, blocking(release)).add("fast", false, nil)
		p := fixed
		p.Concurrency = 2
		start(t, q, ft, p, nil, WithClock(clk.Now))
		// The slow lane's first send blocks; the fast lane drains meanwhile.
		eventually(t, "every fast entry to be sent while slow is stuck", func() bool {
			return q.len() == 3 && len(ft.callsTo("slow")) == 1
		})
		close(release)
		eventually(t, "the slow entries to be sent", func() bool { return q.len() == 0 })
		q.check(t)
	})
	t.Run("no more transports at once than Concurrency", func(t *testing.T) {
		clk := newClock()
		release := make(chan struct{})
		ft := newTransports()
		var all []*outbox.Entry
		for _, name := range []string{"t1", "t2", "t3", "t4", "t5"} {
			ft.add(name, true, blocking(release))
			all = append(all, entries(name, 2, name)...)
		}
		q := newQueue(clk.Now, all...)
		p := fixed
		p.Concurrency = 2
		start(t, q, ft, p, nil, WithClock(clk.Now))
		eventually(t, "two sends in flight", func() bool { return ft.maxInflight() == 2 })
		time.Sleep(20 * time.Millisecond) // give a third one a chance to start
		if got := ft.maxInflight(); got != 2 {
			t.Errorf("%d sends in flight, want 2", got)
		}
		close(release)
		eventually(t, "every entry to be sent", func() bool { return q.len() == 0 })
		if got := ft.maxInflight(); got != 2 {
			t.Errorf("up to %d sends in flight, want 2", got)
		}
		q.check(t)
	})
}

func TestDispatcher_Run_flaky(t *testing.T) {
	tests := []struct {
		name       string
		batch      bool
		storeFails bool
	}{
		{name: "batch transport", batch: true},
		{name: "non-batch transport", batch: false},
		{name: "batch transport and a failing store", batch: true, storeFails: true},
		{name: "non-batch transport and a failing store", batch: false, storeFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 200
			all := entries("flaky", n, "flaky")
			q := newQueue(time.Now, all...)
			rng := rand.New(rand.NewPCG(1, 2))
			var mu sync.Mutex
			chance := func(p float64) bool {
				mu.Lock()
				defer mu.Unlock()
				return rng.Float64() < p
			}
			if tt.storeFails {
				q.failSaveIf = func() bool { return chance(0.2) }
				q.failDoneIf = func() bool { return chance(0.2) }
			}
			ft := newTransports().add("flaky", tt.batch, func(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				out := make([]sdk.Result, len(msgs))
				for i, m := range msgs {
					out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 ok"}
					if chance(0.3) {
						out[i] = sdk.Result{MessageID: m.ID, Err: sdk.TemporaryError(errors.New("try later"), "451 4.3.0", "")}
					}
				}
				return out, nil
			})
			rec := &recorder{}
			p := Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, Multiplier: 2, Jitter: 0.2, BatchSize: 16}
			jit := rand.New(rand.NewPCG(3, 4))
			start(t, q, ft, p, rec, WithRand(jit.Float64), storeRetryEvery(2*time.Millisecond))

			eventually(t, "every entry to be delivered", func() bool { return q.len() == 0 })
			for _, e := range all {
				if got := q.doneCount(e.ID); got != 1 {
					t.Errorf("%s done %d times", e.ID, got)
				}
			}
			var sends, accepted int
			for _, c := range ft.callsTo("flaky") {
				sends += len(c)
			}
			accepted = rec.count("sent")
			if accepted < n || sends < n+rec.count("retried") {
				t.Errorf("%d messages sent, %d accepted, %d retries", sends, accepted, rec.count("retried"))
			}
			if rec.count("retried") == 0 {
				t.Error("the transport never failed")
			}
			if rec.count("fellback")+rec.count("dead") != 0 {
				t.Error("temporary failures moved entries along the chain")
			}
			q.check(t)
		})
	}
}

func TestDispatcher_Run_storeErrors(t *testing.T) {
	t.Run("a failed Done is retried, the message is not sent again", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
		q.failDone = 1
		ft := newTransports().add("smtp", true, nil)
		d := start(t, q, ft, fixed, nil, WithClock(clk.Now), storeRetryEvery(time.Millisecond))
		d.Kick()
		eventually(t, "the Done to succeed", func() bool { return q.doneCount("a@tocsin.test") == 1 })
		if got := len(ft.callsTo("smtp")); got != 1 {
			t.Errorf("%d Sends, want 1", got)
		}
		q.check(t)
	})
	t.Run("a failed Save is retried, the entry is not sent before it is due", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, entry("a@tocsin.test", "smtp", "graph"))
		q.failSave = 2
		ft := newTransports().add("smtp", true, fail(sdk.TemporaryError(errors.New("busy"), "421", ""))).add("graph", true, nil)
		d := start(t, q, ft, fixed, nil, WithClock(clk.Now), storeRetryEvery(time.Millisecond))
		d.Kick()
		eventually(t, "the Save to succeed", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
		settle(t, d.Dispatcher, ft)
		if got := len(ft.callsTo("smtp")); got != 1 {
			t.Errorf("%d Sends, want 1", got)
		}
		if e := q.get("a@tocsin.test"); !e.NextAttempt.Equal(t0.Add(10*time.Second)) || e.TotalAttempts != 1 {
			t.Errorf("entry %+v", e)
		}
		q.check(t)
	})
	t.Run("a failed Due is retried and logged once", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
		q.failDue = 5
		ft := newTransports().add("smtp", true, nil)
		var buf syncBuffer
		logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
		d := New(q, ft, fixed, nil, logger, WithClock(clk.Now), storeRetryEvery(time.Millisecond))
		ran := make(chan error, 1)
		go func() { ran <- d.Run(context.Background()) }()
		eventually(t, "the entry to be sent", func() bool { return q.len() == 0 })
		if err := d.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-ran
		if n := strings.Count(buf.String(), "cannot read the due entries"); n != 1 {
			t.Errorf("the same Due error logged %d times, want once:\n%s", n, buf.String())
		}
		q.check(t)
	})
}

func TestDispatcher_Run_observer(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now,
		entry("ok@tocsin.test", "good"),
		entry("retry@tocsin.test", "busy"),
		entry("fallback@tocsin.test", "broken", "good"),
		entry("dead@tocsin.test", "broken"),
	)
	ft := newTransports().
		add("good", true, nil).
		add("busy", true, fail(sdk.TemporaryError(errors.New("busy"), "421 4.7.0", ""))).
		add("broken", false, fail(sdk.PermanentError(errors.New("auth"), "535 5.7.3", "Check the password.")))
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))
	eventually(t, "every event", func() bool { return len(rec.all()) == 5 })
	settle(t, d.Dispatcher, ft)
	got := rec.all()
	slices.SortFunc(got, func(a, b event) int { return strings.Compare(a.kind+a.id, b.kind+b.id) })
	want := []event{
		{kind: "dead", id: "dead@tocsin.test", code: "535 5.7.3"},
		{kind: "fellback", id: "fallback@tocsin.test", transport: "broken", to: "good", code: "535 5.7.3"},
		{kind: "retried", id: "retry@tocsin.test", transport: "busy", code: "421 4.7.0", next: t0.Add(10 * time.Second)},
		{kind: "sent", id: "fallback@tocsin.test", transport: "good", receipt: "250 2.0.0 Ok: queued as fallback@tocsin.test"},
		{kind: "sent", id: "ok@tocsin.test", transport: "good", receipt: "250 2.0.0 Ok: queued as ok@tocsin.test"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n%+v\nwant\n%+v", got, want)
	}
	if e := q.get("dead@tocsin.test"); e == nil || e.State != outbox.Dead || e.Last.Remedy != "Check the password." {
		t.Errorf("dead entry %+v", e)
	}
	q.check(t)
}

func TestDispatcher_Run_pauseDefersWithoutASlot(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("g1@tocsin.test", "graph"))
	release := make(chan struct{})
	var once sync.Once
	ft := newTransports().
		add("graph", false, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
			first := false
			once.Do(func() { first = true })
			if first {
				return nil, &sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: 5 * time.Minute, Err: errors.New("throttled")}
			}
			return accept(ctx, msgs)
		}).
		add("stuck", true, blocking(release))
	p := fixed
	p.Concurrency = 1
	d := start(t, q, ft, p, nil, WithClock(clk.Now))
	eventually(t, "the 429", func() bool { return q.get("g1@tocsin.test").Attempts == 1 })

	// The only slot is taken by a send that hangs; an entry for the
	// paused transport is still deferred, by the loop itself.
	q.add(entry("x@tocsin.test", "stuck"))
	d.Kick()
	eventually(t, "the stuck send", func() bool { return len(ft.callsTo("stuck")) == 1 })
	q.add(entry("g2@tocsin.test", "graph"))
	d.Kick()
	pauseEnd := t0.Add(5 * time.Minute)
	eventually(t, "g2 to be deferred", func() bool { return q.get("g2@tocsin.test").NextAttempt.Equal(pauseEnd) })
	if e := q.get("g2@tocsin.test"); e.Attempts != 0 || e.Last != nil {
		t.Errorf("g2 = %+v, want deferred without an attempt", e)
	}

	close(release)
	clk.Advance(5 * time.Minute)
	d.Kick()
	eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
	q.check(t)
}

// TestDispatcher_Run_rateLimit: a transport's Rate spreads its sends (one
// every Per/Messages; a batching transport up to a batch at once), the
// entries that wait for it are neither attempted nor rewritten, and the
// other transports go on meanwhile.
func TestDispatcher_Run_rateLimit(t *testing.T) {
	clk := newClock()
	var entries []*outbox.Entry
	for i := range 4 {
		entries = append(entries, entry(fmt.Sprintf("g%d@tocsin.test", i), "graph"))
	}
	for i := range 5 {
		entries = append(entries, entry(fmt.Sprintf("s%d@tocsin.test", i), "smtp"))
	}
	entries = append(entries, entry("f@tocsin.test", "free"))
	q := newQueue(clk.Now, entries...)
	ft := newTransports().
		add("graph", false, nil).limit("graph", Rate{Messages: 2, Per: time.Minute}).
		add("smtp", true, nil).limit("smtp", Rate{Messages: 3, Per: time.Minute}).
		add("free", false, nil)
	d := start(t, q, ft, fixed, nil, WithClock(clk.Now))

	sent := func(transport string) int {
		n := 0
		for _, ids := range ft.callsTo(transport) {
			n += len(ids)
		}
		return n
	}
	eventually(t, "the first sends", func() bool { return sent("graph") == 1 && sent("smtp") == 3 && sent("free") == 1 })
	settle(t, d.Dispatcher, ft)
	if calls := ft.callsTo("smtp"); len(calls) != 1 {
		t.Errorf("smtp Sends %v, want one batch of 3 (its Rate's burst)", calls)
	}
	for _, id := range []string{"g1@tocsin.test", "s3@tocsin.test"} {
		if e := q.get(id); e == nil || e.Attempts != 0 || e.Last != nil || !e.NextAttempt.Equal(t0) {
			t.Errorf("%s was changed while it waited for the rate limit: %+v", id, e)
		}
	}

	// graph lets one message go every 30s, smtp every 20s.
	clk.Advance(20 * time.Second)
	d.Kick()
	eventually(t, "smtp's next message", func() bool { return sent("smtp") == 4 })
	settle(t, d.Dispatcher, ft)
	if got := sent("graph"); got != 1 {
		t.Errorf("graph sent %d messages within 20s, want 1", got)
	}
	clk.Advance(10 * time.Second)
	d.Kick()
	eventually(t, "graph's second message at 30s", func() bool { return sent("graph") == 2 })
	settle(t, d.Dispatcher, ft)
	if got := sent("smtp"); got != 4 {
		t.Errorf("smtp sent %d messages within 30s, want 4", got)
	}
	clk.Advance(30 * time.Second)
	d.Kick()
	eventually(t, "the outbox to hold only graph's last", func() bool { return sent("graph") == 3 && sent("smtp") == 5 })
	settle(t, d.Dispatcher, ft)
	if q.len() != 1 {
		t.Errorf("outbox holds %d entries at 60s, want 1 (graph's fourth)", q.len())
	}
	clk.Advance(30 * time.Second)
	d.Kick()
	eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
	q.check(t)
}

// TestBuildError: a message that cannot be built is ErrBuild with its
// cause, so observers can tell it from a transport's failure.
func TestBuildError(t *testing.T) {
	cause := errors.New("no recipient")
	de := buildError("relay", cause)
	if !errors.Is(de, ErrBuild) || !errors.Is(de, cause) || de.Temporary() {
		t.Errorf("buildError = %v: want permanent, ErrBuild and its cause", de)
	}
	if got := de.Error(); !strings.Contains(got, "build message for transport relay: no recipient") {
		t.Errorf("text %q", got)
	}
	gone := buildError("relay", fmt.Errorf("transport relay: %w", ErrUnknownTransport))
	if errors.Is(gone, ErrBuild) || !errors.Is(gone, ErrUnknownTransport) {
		t.Errorf("an unknown transport is not a build error: %v", gone)
	}
}

// TestDispatcher_Holds: a Retry-After pause and a rate limit show, each
// until it ends.
func TestDispatcher_Holds(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("g1@tocsin.test", "graph"), entry("s1@tocsin.test", "smtp"), entry("s2@tocsin.test", "smtp"))
	ft := newTransports().
		add("graph", false, fail(&sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: 2 * time.Minute, Err: errors.New("throttled")})).
		add("smtp", false, nil).limit("smtp", Rate{Messages: 1, Per: time.Minute})
	d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
	want := map[string]Hold{
		"graph": {PausedUntil: t0.Add(2 * time.Minute)},
		"smtp":  {ThrottledUntil: t0.Add(time.Minute)},
	}
	eventually(t, "both holds", func() bool { return maps.Equal(d.Holds(), want) })
	clk.Advance(time.Minute)
	if got := d.Holds(); !maps.Equal(got, map[string]Hold{"graph": want["graph"]}) {
		t.Errorf("after 1m: %v, want graph's pause only", got)
	}
	clk.Advance(time.Minute)
	if got := d.Holds(); len(got) != 0 {
		t.Errorf("after 2m: %v, want none", got)
	}
}
