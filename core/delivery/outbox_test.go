package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The real outbox is a Queue.
var _ Queue = (*outbox.Outbox)(nil)

// accepted counts the messages transports accepted, per ID.
type accepted struct {
	mu sync.Mutex
	n  map[string]int
}

// wrap returns f, counting what it accepts.
func (a *accepted) wrap(f sendFunc) sendFunc {
	return func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		res, err := f(ctx, msgs)
		if err == nil && len(res) == len(msgs) {
			a.mu.Lock()
			for i, r := range res {
				if r.Err == nil {
					a.n[msgs[i].ID]++
				}
			}
			a.mu.Unlock()
		}
		return res, err
	}
}

func (a *accepted) count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[id]
}

func openOutbox(t *testing.T, path string) *outbox.Outbox {
	t.Helper()
	o, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o
}

func enqueue(t *testing.T, o *outbox.Outbox, es ...*outbox.Entry) {
	t.Helper()
	for _, e := range es {
		e.EnqueuedAt, e.NextAttempt = time.Time{}, time.Time{} // now
	}
	if err := o.Enqueue(context.Background(), es...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func TestDispatcher_Run_outbox(t *testing.T) {
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	t.Cleanup(func() { _ = o.Close() })
	flaky := entries("flaky", 150, "flaky")
	moved := entries("moved", 20, "broken", "good")
	dead := entries("dead", 5, "broken")
	enqueue(t, o, flaky...)
	enqueue(t, o, moved...)
	enqueue(t, o, dead...)

	rng := rand.New(rand.NewPCG(5, 6))
	var mu sync.Mutex
	acc := &accepted{n: map[string]int{}}
	ft := newTransports().
		add("flaky", true, acc.wrap(func(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			out := make([]sdk.Result, len(msgs))
			for i, m := range msgs {
				out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 ok"}
				if rng.Float64() < 0.3 {
					out[i].Err = sdk.TemporaryError(errors.New("try later"), "451 4.3.0", "")
				}
			}
			return out, nil
		})).
		add("broken", false, fail(&sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.3", Reply: "535 5.7.3 Authentication unsuccessful", Remedy: "Check the password.", Err: errors.New("auth")})).
		add("good", true, acc.wrap(accept))
	rec := &recorder{}
	p := Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, Multiplier: 2, Jitter: 0.2, BatchSize: 25}
	d := start(t, o, ft, p, rec, WithRand(rand.New(rand.NewPCG(7, 8)).Float64))
	d.Kick()

	eventually(t, "only the dead letters to be left", func() bool {
		st, err := o.Stats()
		return err == nil && st.Pending == 0 && st.Dead == len(dead)
	})
	for _, e := range append(flaky, moved...) {
		if n := acc.count(e.ID); n != 1 {
			t.Errorf("%s accepted %d times", e.ID, n)
		}
	}
	if n := rec.count("sent"); n != len(flaky)+len(moved) {
		t.Errorf("%d Sent events, want %d", n, len(flaky)+len(moved))
	}
	list, err := o.List(outbox.Dead)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Last == nil || e.Last.Code != "535 5.7.3" || e.Last.Remedy != "Check the password." || e.Last.Transport != "broken" || e.Hop != 1 || e.TotalAttempts != 1 {
			t.Errorf("dead letter %s: hop %d, attempts %d, last %+v", e.ID, e.Hop, e.TotalAttempts, e.Last)
		}
	}
}

func TestDispatcher_Stop_outboxResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openOutbox(t, path)
	all := entries("burst", 120, "smtp")
	enqueue(t, o, all...)

	// First run: the transport hangs, the stop deadline passes.
	ft := newTransports().add("smtp", true, blocking(nil))
	d := New(o, ft, Policy{BatchSize: 50}, nil, nil)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	// Two Sends in flight (SendsPerTransport), the last 20 entries queued.
	eventually(t, "two sends in flight", func() bool { return len(ft.callsTo("smtp")) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: everything is still there, untouched, and goes out once.
	o = openOutbox(t, path)
	t.Cleanup(func() { _ = o.Close() })
	left, err := o.List(outbox.Pending)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(all) {
		t.Fatalf("%d entries after the restart, want %d", len(left), len(all))
	}
	for _, e := range left {
		if e.Attempts != 0 || e.TotalAttempts != 0 || e.Last != nil {
			t.Errorf("%s was changed by a cancelled send: %+v", e.ID, e)
		}
	}
	acc := &accepted{n: map[string]int{}}
	ft2 := newTransports().add("smtp", true, acc.wrap(accept))
	d2 := start(t, o, ft2, Policy{BatchSize: 50}, nil)
	d2.Kick()
	eventually(t, "the outbox to empty", func() bool {
		st, err := o.Stats()
		return err == nil && st.Pending == 0
	})
	for _, e := range all {
		if n := acc.count(e.ID); n != 1 {
			t.Errorf("%s accepted %d times", e.ID, n)
		}
	}
	if calls := ft2.callsTo("smtp"); len(calls) != 3 {
		t.Errorf("%d Sends for %d entries in batches of 50: %v", len(calls), len(all), fmt.Sprint(len(calls)))
	}
}
