package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestDispatcher_Run_backlogAfterOutage: 200 notifications fail while the
// server is down for 60s, each on its own jittered backoff; once the
// transport accepts again, the ones waiting on it are brought forward, so
// the whole backlog goes within 10s of the server's return rather than
// when each timer would have said, and none of them is counted an extra
// failed attempt for it.
func TestDispatcher_Run_backlogAfterOutage(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entries("b", 200, "smtp")...)
	var down atomic.Bool
	down.Store(true)
	refused := sdk.TemporaryError(errors.New("dial tcp 127.0.0.1:25: connect: connection refused"), "", "")
	ft := newTransports().add("smtp", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		if down.Load() {
			return nil, refused
		}
		return accept(ctx, msgs)
	})
	rec := &recorder{}
	p := DefaultPolicy() // 10s, 20s, 40s... with 20% jitter
	rnd := rand.New(rand.NewPCG(1, 2))
	d := start(t, q, ft, p, rec, WithClock(clk.Now), WithRand(rnd.Float64))

	const outage = 60 * time.Second
	step := func() {
		clk.Advance(time.Second)
		round(t, d.Dispatcher)
		settle(t, d.Dispatcher, ft)
	}
	round(t, d.Dispatcher)
	settle(t, d.Dispatcher, ft)
	for clk.Now().Sub(t0) < outage {
		step()
	}
	retriedBefore := rec.count("retried")
	down.Store(false)
	back := clk.Now()
	for q.len() > 0 && clk.Now().Sub(back) < 5*time.Minute {
		step()
	}
	took := clk.Now().Sub(back)
	t.Logf("the last of 200 went %v after the server's return", took)
	if took > 10*time.Second {
		t.Errorf("the backlog took %v after the server's return, want at most 10s", took)
	}
	if n := rec.count("sent"); n != 200 {
		t.Errorf("%d sent, want 200", n)
	}
	if n := rec.count("retried") - retriedBefore; n != 0 {
		t.Errorf("%d failed attempts after the return, want none", n)
	}
	q.check(t)
}

// round kicks d and waits for a round that began after the kick to end.
func round(t *testing.T, d *Dispatcher) {
	t.Helper()
	begun := d.roundsBegun.Load()
	d.Kick()
	eventually(t, "a round", func() bool { return d.roundsDone.Load() > begun })
}

// TestDispatcher_Run_hastenKeepsTheRate: the entries brought forward when
// their transport accepts again still go at its Rate.
func TestDispatcher_Run_hastenKeepsTheRate(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entries("r", 6, "graph")...)
	var down atomic.Bool
	down.Store(true)
	var (
		mu    sync.Mutex
		times []time.Time // of the sends after the return
	)
	ft := newTransports().add("graph", false, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		if down.Load() {
			return nil, sdk.TemporaryError(errors.New("503"), "503", "")
		}
		mu.Lock()
		times = append(times, clk.Now())
		mu.Unlock()
		return accept(ctx, msgs)
	}).limit("graph", Rate{Messages: 1, Per: 5 * time.Second})
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))
	step := func() {
		clk.Advance(time.Second)
		round(t, d.Dispatcher)
		settle(t, d.Dispatcher, ft)
	}
	round(t, d.Dispatcher)
	settle(t, d.Dispatcher, ft)
	for clk.Now().Sub(t0) < 40*time.Second {
		step()
	}
	down.Store(false)
	for q.len() > 0 && clk.Now().Sub(t0) < 10*time.Minute {
		step()
	}
	if q.len() != 0 {
		t.Fatalf("%d entries left", q.len())
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 5*time.Second {
			t.Errorf("sends %d and %d %v apart, want at least the rate's 5s", i-1, i, gap)
		}
	}
	if took := times[len(times)-1].Sub(times[0]); took > 6*5*time.Second {
		t.Errorf("the backlog took %v after the first success; the rate allows it in 25s", took)
	}
}
