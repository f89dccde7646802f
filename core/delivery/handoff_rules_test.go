package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// handOffOnly runs a dispatcher over an empty outbox, so that what is
// sent can only come through the hand-off: what it leaves for the rounds
// is never found there.
func handOffOnly(t *testing.T, ft *fakeTransports, clk *fakeClock) (*running, *fakeQueue) {
	t.Helper()
	q := newQueue(clk.Now)
	d := start(t, q, ft, Policy{BatchSize: 10, SendsPerTransport: 2}, nil, WithClock(clk.Now), WithAfter(clk.After))
	eventually(t, "Run to start", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	return d, q
}

// TestDispatcher_handOff_decides: the hand-off queues a stored entry only
// when it can go out now; each reason alone to wait (not pending, not due,
// its chain exhausted, its transport paused by a Retry-After or held back
// by its rate) leaves it to the rounds, and lets go of it.
func TestDispatcher_handOff_decides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(e *outbox.Entry)
		setup func(d *Dispatcher, now time.Time)
		sent  bool
	}{
		{name: "due", sent: true},
		{name: "dead", edit: func(e *outbox.Entry) { e.State = outbox.Dead }},
		{name: "not due", edit: func(e *outbox.Entry) { e.NextAttempt = t0.Add(time.Hour) }},
		{name: "chain exhausted", edit: func(e *outbox.Entry) { e.Hop = 1 }},
		{name: "paused", setup: func(d *Dispatcher, now time.Time) { d.paused["smtp"] = now.Add(time.Hour) }},
		{name: "throttled", setup: func(d *Dispatcher, now time.Time) { d.throttled["smtp"] = now.Add(time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			ft := newTransports().add("smtp", true, nil)
			d, q := handOffOnly(t, ft, clk)
			if tt.setup != nil {
				d.mu.Lock()
				tt.setup(d.Dispatcher, clk.Now())
				d.mu.Unlock()
			}
			e := entry("x@tocsin.test", "smtp")
			if tt.edit != nil {
				tt.edit(e)
			}
			d.Claim([]*outbox.Entry{e})([]*outbox.Entry{e})
			if tt.sent {
				eventually(t, "the Send", func() bool { return len(ft.callsTo("smtp")) == 1 })
			} else {
				time.Sleep(30 * time.Millisecond)
				ft.mu.Lock()
				n := len(ft.calls)
				ft.mu.Unlock()
				if n != 0 || q.len() != 0 {
					t.Errorf("%d Sends and %d entries saved of an entry that cannot go now; want none (it waits in the outbox, untouched)", n, q.len())
				}
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.held) != 0 {
				t.Errorf("%d entries still held after the hand-off", len(d.held))
			}
			if _, ok := d.lanes[""]; !tt.sent && len(d.lanes) != 0 {
				t.Errorf("the hand-off made lanes for an entry that cannot go now (one for no transport: %v)", ok)
			}
		})
	}
}

// TestDispatcher_handOff_stopping: entries handed over once the
// dispatcher stops are left to the next start, even when they were
// claimed before.
func TestDispatcher_handOff_stopping(t *testing.T) {
	t.Parallel()
	clk := newClock()
	ft := newTransports().add("smtp", true, nil)
	d := New(newQueue(clk.Now), ft, Policy{BatchSize: 10}, nil, nil, WithClock(clk.Now), WithAfter(clk.After))
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "Run to start", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	es := entries("s", 3, "smtp")
	handOff := d.Claim(es)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-ran
	handOff(es)
	time.Sleep(30 * time.Millisecond)
	if n := len(ft.callsTo("smtp")); n != 0 {
		t.Errorf("%d Sends by a stopped dispatcher", n)
	}
}

// TestDispatcher_handOff_lane: the hand-off fills a lane up to its
// capacity and no further (the rest waits for the rounds), and starts as
// many workers as the queue needs and the transport may have Sends in
// flight, no more: two for a batching transport.
func TestDispatcher_handOff_lane(t *testing.T) {
	t.Parallel()
	clk := newClock()
	release := make(chan struct{})
	var (
		mu  sync.Mutex
		ids = map[string]int{}
	)
	ft := newTransports().add("smtp", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		<-release
		mu.Lock()
		for _, m := range msgs {
			ids[m.ID]++
		}
		mu.Unlock()
		return accept(ctx, msgs)
	})
	d, _ := handOffOnly(t, ft, clk)
	es := entries("l", d.laneCp+1, "smtp")
	d.Claim(es)(es)
	eventually(t, "two Sends in flight", func() bool { ft.mu.Lock(); defer ft.mu.Unlock(); return ft.inflight == 2 })
	time.Sleep(20 * time.Millisecond) // a third worker would start now
	close(release)
	eventually(t, "the lane to drain", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ids) >= d.laneCp
	})
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != d.laneCp {
		t.Errorf("the hand-off sent %d entries; want the lane's capacity, %d", len(ids), d.laneCp)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	if m := ft.maxInflight(); m != 2 {
		t.Errorf("%d Sends in flight at most; want 2 (SendsPerTransport)", m)
	}
}

// TestDispatcher_handOff_kicks: an entry the hand-off leaves for the
// rounds (not due yet) is seen by the next round at its time, although
// the same hand-off filled a lane whose Sends hang: the hand-off wakes
// the loop itself rather than count on a lane's worker to.
func TestDispatcher_handOff_kicks(t *testing.T) {
	t.Parallel()
	clk := newClock()
	hang := make(chan struct{})
	ft := newTransports().add("smtp", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return nil, sdk.TemporaryError(ctx.Err(), "", "")
	}).add("other", true, nil)
	q := newQueue(clk.Now)
	d := start(t, q, ft, Policy{BatchSize: 10, SendsPerTransport: 2}, nil, WithClock(clk.Now), WithAfter(clk.After))
	t.Cleanup(func() { close(hang) }) // before start's Stop, which drains the Sends
	eventually(t, "the first round", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	time.Sleep(20 * time.Millisecond) // the round found nothing and waits

	later := entry("later@tocsin.test", "other")
	later.NextAttempt = t0.Add(time.Second)
	es := append([]*outbox.Entry{later}, entries("full", d.laneCp+1, "smtp")...)
	for _, e := range es {
		q.add(e)
	}
	d.Claim(es)(es)
	eventually(t, "the lane's Sends", func() bool { ft.mu.Lock(); defer ft.mu.Unlock(); return ft.inflight == 2 })
	time.Sleep(20 * time.Millisecond) // the kicked round sets its timer
	clk.Advance(time.Second)
	eventually(t, "the entry left for the rounds, at its time", func() bool { return len(ft.callsTo("other")) == 1 })
}

// notWarmer is Transports without warm-ups.
type notWarmer struct{ Transports }

// TestDispatcher_Warm_notAWarmer: Warm does nothing, and does not fail,
// when the transports cannot warm up, and with no entries.
func TestDispatcher_Warm_notAWarmer(t *testing.T) {
	t.Parallel()
	clk := newClock()
	ft := newTransports().add("smtp", true, nil)
	d := start(t, newQueue(clk.Now), notWarmer{ft}, Policy{}, nil, WithClock(clk.Now), WithAfter(clk.After))
	eventually(t, "Run to start", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	d.Warm(entries("w", 3, "smtp"))
	w := &warmingTransports{fakeTransports: newTransports().add("smtp", true, nil), release: make(chan struct{}), warmed: map[string]int{}}
	close(w.release)
	d2 := start(t, newQueue(clk.Now), w, Policy{}, nil, WithClock(clk.Now), WithAfter(clk.After))
	eventually(t, "Run to start", func() bool { d2.mu.Lock(); defer d2.mu.Unlock(); return d2.started })
	d2.Warm(nil)
	time.Sleep(20 * time.Millisecond)
	if got, _ := w.snapshot(); len(got) != 0 {
		t.Errorf("warm-ups for no entries: %v", got)
	}
	if n := len(ft.callsTo("smtp")); n != 0 {
		t.Errorf("Warm without a Warmer made %d Sends", n)
	}
}
