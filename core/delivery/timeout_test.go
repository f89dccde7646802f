package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// hanging is a Send that ignores its context and returns only when
// release is closed.
func hanging(release <-chan struct{}) sendFunc {
	return func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		<-release
		return nil, errors.New("released")
	}
}

// TestDispatcher_Run_sendTimeout: a plugin that hangs in Send, ignoring
// its context, costs its entries one temporary failure per send_timeout
// (with a remedy), and the normal rules apply: past the max age, the next
// transport of the chain takes them.
func TestDispatcher_Run_sendTimeout(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	q := newQueue(clk.Now, entry("a@tocsin.test", "hang", "good"))
	ft := newTransports().add("hang", true, hanging(release)).add("good", true, nil)
	rec := &recorder{}
	p := fixed
	p.MaxAge = 20 * time.Second
	d := start(t, q, ft, p, rec, WithClock(clk.Now), WithAfter(clk.After))

	eventually(t, "the send to hang", func() bool { return len(ft.callsTo("hang")) == 1 && clk.waiting() == 1 })
	clk.Advance(DefaultSendTimeout)
	// The plugin ignores the cancellation: after a grace, the call is
	// left behind.
	eventually(t, "the grace timer", func() bool { return clk.waiting() == 1 })
	clk.Advance(sendGrace)
	eventually(t, "the good transport to send it", func() bool { return q.len() == 0 })
	idle(t, d.Dispatcher)

	var fell *event
	for _, ev := range rec.all() {
		if ev.kind == "fellback" {
			fell = &ev
		}
	}
	if fell == nil || fell.transport != "hang" || fell.to != "good" {
		t.Errorf("events %+v, want a fallback from hang to good", rec.all())
	}
	if got := ft.callsTo("good"); len(got) != 1 {
		t.Errorf("good sent %v, want one send", got)
	}
	q.check(t)
}

// TestDispatcher_Run_sendTimeoutRetries: within the max age, a send that
// times out is a temporary failure, saved with its remedy and retried
// after the backoff; a plugin that left too many calls behind is not
// called again until one returns, and its entries keep failing (and so
// move on) rather than wait.
func TestDispatcher_Run_sendTimeoutRetries(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	q := newQueue(clk.Now, entry("a@tocsin.test", "hang"))
	ft := newTransports().add("hang", true, hanging(release))
	ft.timeouts["hang"] = 5 * time.Second
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now), WithAfter(clk.After))

	for i := 1; i <= maxStuck; i++ {
		eventually(t, "the send to hang", func() bool { return len(ft.callsTo("hang")) == i && clk.waiting() == 1 })
		clk.Advance(5 * time.Second)
		eventually(t, "the grace timer", func() bool { return clk.waiting() == 1 })
		clk.Advance(sendGrace)
		eventually(t, "the attempt to be saved", func() bool { return q.get("a@tocsin.test").Attempts == i })
		idle(t, d.Dispatcher)
		e := q.get("a@tocsin.test")
		if e.Last == nil || e.Last.Kind != "temporary" || !strings.Contains(e.Last.Error, "send_timeout") || !strings.Contains(e.Last.Remedy, "send_timeout") {
			t.Fatalf("attempt %d: last %+v, want a temporary failure naming send_timeout", i, e.Last)
		}
		if e.State != outbox.Pending || !e.NextAttempt.After(clk.Now()) {
			t.Fatalf("attempt %d: entry %+v, want pending, retried later", i, e)
		}
		clk.Advance(e.NextAttempt.Sub(clk.Now()))
		d.Kick()
	}
	// maxStuck calls are stuck: the next attempt fails at once, without
	// calling the plugin.
	eventually(t, "the attempt to be saved", func() bool { return q.get("a@tocsin.test").Attempts == maxStuck+1 })
	if n := len(ft.callsTo("hang")); n != maxStuck {
		t.Errorf("%d sends, want %d: no call while %d are stuck", n, maxStuck, maxStuck)
	}
	if e := q.get("a@tocsin.test"); !strings.Contains(e.Last.Error, "did not return") {
		t.Errorf("last error %q, want one saying earlier sends did not return", e.Last.Error)
	}

	// The calls left behind return: the plugin is called again.
	free()
	eventually(t, "the calls left behind to return", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.stuck["hang"] == 0
	})
	idle(t, d.Dispatcher)
	clk.Advance(q.get("a@tocsin.test").NextAttempt.Sub(clk.Now()))
	d.Kick()
	eventually(t, "a new call", func() bool { return len(ft.callsTo("hang")) == maxStuck+1 })
}

// TestDispatcher_Run_sendDeadline: a Send through a transport without a
// send_timeout of its own has the documented default of two minutes; one
// with its own has that. The plugin is cut off then, not before: the
// attempt fails at that moment, temporarily, naming send_timeout.
func TestDispatcher_Run_sendDeadline(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // the transport's own; 0 is none
		want    time.Duration
	}{
		{name: "default", timeout: 0, want: 2 * time.Minute},
		{name: "the transport's own", timeout: 5 * time.Second, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("a@tocsin.test", "slow"))
			// A plugin that honours its context: it answers when cut off.
			ft := newTransports().add("slow", true, func(ctx context.Context, _ []*sdk.Message) ([]sdk.Result, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			})
			ft.timeouts["slow"] = tt.timeout
			d := start(t, q, ft, fixed, nil, WithClock(clk.Now), WithAfter(clk.After))

			eventually(t, "the send to start", func() bool { return len(ft.callsTo("slow")) == 1 && clk.waiting() == 1 })
			if got := clk.next(); !got.Equal(t0.Add(tt.want)) {
				t.Fatalf("the send is cut off at %v, want %v", got.Sub(t0), tt.want)
			}
			clk.Advance(tt.want)
			eventually(t, "the attempt to be saved", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
			idle(t, d.Dispatcher)
			e := q.get("a@tocsin.test")
			if e.Last == nil || e.Last.Kind != "temporary" || !e.Last.At.Equal(t0.Add(tt.want)) || !strings.Contains(e.Last.Error, "send_timeout "+tt.want.String()) {
				t.Errorf("last attempt %+v, want a temporary failure at %v naming send_timeout %v", e.Last, tt.want, tt.want)
			}
		})
	}
}

// TestDispatcher_Run_sendAnswersInGrace: a Send that answers after its
// send_timeout, within the grace, with the messages accepted, counts as
// sent: the provider has them, and sending them again would duplicate the
// alert.
func TestDispatcher_Run_sendAnswersInGrace(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	q := newQueue(clk.Now, entry("a@tocsin.test", "late"))
	// A plugin that ignores the cancellation, then accepts.
	ft := newTransports().add("late", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		<-release
		return accept(ctx, msgs)
	})
	ft.timeouts["late"] = 5 * time.Second
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now), WithAfter(clk.After))
	t.Cleanup(free) // before Stop, which waits for the send

	eventually(t, "the send to start", func() bool { return len(ft.callsTo("late")) == 1 && clk.waiting() == 1 })
	clk.Advance(5 * time.Second)
	eventually(t, "the grace timer", func() bool { return clk.waiting() == 1 })
	free() // the answer comes within the grace
	eventually(t, "the entry to be done or failed", func() bool {
		e := q.get("a@tocsin.test")
		return e == nil || e.Attempts > 0
	})
	idle(t, d.Dispatcher)
	if e := q.get("a@tocsin.test"); e != nil {
		t.Fatalf("entry still in the outbox, last attempt %+v; want it sent", e.Last)
	}
	if evs := rec.all(); len(evs) != 1 || evs[0].kind != "sent" {
		t.Errorf("events %+v, want one sent", evs)
	}
	if n := len(ft.callsTo("late")); n != 1 {
		t.Errorf("%d Sends, want 1", n)
	}
	q.check(t)
}

// idle waits until every lane of d is idle and it holds no entry; unlike
// settle, it ignores Sends left behind.
func idle(t *testing.T, d *Dispatcher) {
	t.Helper()
	eventually(t, "the lanes to be idle", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, l := range d.lanes {
			if l.workers > 0 {
				return false
			}
		}
		return len(d.held) == 0
	})
}

// TestDispatcher_Stop_hangingSend: Stop's deadline ends Run even when a
// Send ignores its context; the entries of that send stay as they were.
func TestDispatcher_Stop_hangingSend(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	defer close(release)
	q := newQueue(clk.Now, entries("s", 3, "hang")...)
	ft := newTransports().add("hang", true, hanging(release))
	d := New(q, ft, fixed, nil, nil, WithClock(clk.Now), WithAfter(clk.After))
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "the send to hang", func() bool { return len(ft.callsTo("hang")) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	for _, e := range entries("s", 3, "hang") {
		if got := q.get(e.ID); got.Attempts != 0 || got.Last != nil || !got.NextAttempt.Equal(t0) {
			t.Errorf("%s = %+v, want pending and untouched", e.ID, got)
		}
	}
	q.check(t)
}
