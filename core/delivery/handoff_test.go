package delivery

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// readBack is a Queue that counts the calls of its Due.
type readBack struct {
	Queue
	mu   sync.Mutex
	dues int
}

func (r *readBack) Due(limit int) ([]*outbox.Entry, time.Time, error) {
	es, next, err := r.Queue.Due(limit)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dues++
	return es, next, err
}

func (r *readBack) dueCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dues
}

// TestDispatcher_Claim: entries handed over after their store are sent
// without being read back from the outbox, each once; while the store
// has not returned, no round sends them, even once they are in the
// outbox; a store that failed sends nothing.
func TestDispatcher_Claim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		n      int
		failed bool // the store failed
	}{
		{"one", 1, false},
		{"a burst", 40, false},
		{"store failed", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fq := newQueue(time.Now)
			q := &readBack{Queue: fq}
			acc := &accepted{n: map[string]int{}}
			var firstSend sync.Once
			duesAtFirstSend := -1
			ft := newTransports().add("smtp", true, acc.wrap(func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				firstSend.Do(func() { duesAtFirstSend = q.dueCalls() })
				return accept(ctx, msgs)
			}))
			d := start(t, q, ft, Policy{BatchSize: 10}, nil)
			eventually(t, "the first round", func() bool { return q.dueCalls() > 0 })

			es := entries("h", tt.n, "smtp")
			stored := d.Claim(es)
			// The store writes them (a commit that has not returned
			// yet): the rounds that read them now leave them alone.
			if !tt.failed {
				for _, e := range es {
					fq.add(e)
				}
			}
			before := q.dueCalls()
			d.Kick()
			eventually(t, "a round", func() bool { return q.dueCalls() > before })
			time.Sleep(10 * time.Millisecond)
			if calls := ft.callsTo("smtp"); len(calls) != 0 {
				t.Fatalf("%d Sends before the store returned", len(calls))
			}
			if tt.failed {
				stored(nil)
				time.Sleep(20 * time.Millisecond)
				if calls := ft.callsTo("smtp"); len(calls) != 0 {
					t.Errorf("%d Sends after the store failed", len(calls))
				}
				d.mu.Lock()
				defer d.mu.Unlock()
				if len(d.held) != 0 {
					t.Errorf("%d entries still held after the store failed", len(d.held))
				}
				return
			}
			handed := q.dueCalls()
			stored(es)
			eventually(t, "the outbox to empty", func() bool { return fq.len() == 0 })
			for _, e := range es {
				if n := acc.count(e.ID); n != 1 {
					t.Errorf("%s accepted %d times", e.ID, n)
				}
			}
			// The first batch went out before any round read the outbox
			// again (more than a lane takes waits for the rounds).
			if duesAtFirstSend != handed {
				t.Errorf("the outbox was read %d times between the hand-off and the first Send, want 0", duesAtFirstSend-handed)
			}
			fq.check(t)
		})
	}
}

// TestDispatcher_Claim_left: what the hand-off cannot queue at once (more
// than a lane takes, a paused transport, no transport left) stays in the
// outbox for the rounds, and goes out (or is dead-lettered) once; Claim
// before Run or after Stop leaves everything to the rounds.
func TestDispatcher_Claim_left(t *testing.T) {
	t.Parallel()
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	t.Cleanup(func() { _ = o.Close() })
	acc := &accepted{n: map[string]int{}}
	ft := newTransports().add("smtp", true, acc.wrap(accept)).add("paused", true, acc.wrap(accept))
	rec := &recorder{}
	d := New(o, ft, Policy{BatchSize: 10}, rec, nil)

	early := entries("early", 3, "smtp")
	storeAndHand(t, d, o, early) // before Run
	time.Sleep(20 * time.Millisecond)
	if calls := ft.callsTo("smtp"); len(calls) != 0 {
		t.Fatalf("%d Sends before Run: a hand-off before Run must leave the entries to its rounds", len(calls))
	}

	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "Run", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	d.mu.Lock()
	d.paused["paused"] = time.Now().Add(100 * time.Millisecond)
	d.mu.Unlock()

	burst := entries("burst", 200, "smtp") // a lane takes 30
	paused := entries("paused", 3, "paused")
	none := []*outbox.Entry{entry("none@tocsin.test")}
	all := append(append(append(burst, paused...), none...), early...)
	storeAndHand(t, d, o, append(append(burst, paused...), none...))
	eventually(t, "only the dead letter to be left", func() bool {
		st, err := o.Stats()
		return err == nil && st.Pending == 0 && st.Dead == 1
	})
	for _, e := range all[:len(all)-len(early)-1] {
		if n := acc.count(e.ID); n != 1 {
			t.Errorf("%s accepted %d times", e.ID, n)
		}
	}
	for _, e := range early {
		if n := acc.count(e.ID); n != 1 {
			t.Errorf("%s (handed over before Run) accepted %d times", e.ID, n)
		}
	}
	if n := rec.count("dead"); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	<-ran
	late := entries("late", 2, "smtp")
	storeAndHand(t, d, o, late) // after Stop: stays in the outbox
	if st, _ := o.Stats(); st.Pending != len(late) {
		t.Errorf("%d pending after a hand-off to a stopped dispatcher, want %d", st.Pending, len(late))
	}
	for _, e := range late {
		if n := acc.count(e.ID); n != 0 {
			t.Errorf("%s sent by a stopped dispatcher", e.ID)
		}
	}
}

// storeAndHand stores es in o as the agent does: Claim, the store, then
// the hand-off of what it stored.
func storeAndHand(t *testing.T, d *Dispatcher, o *outbox.Outbox, es []*outbox.Entry) {
	t.Helper()
	for _, e := range es {
		e.EnqueuedAt, e.NextAttempt = time.Time{}, time.Time{} // now
	}
	handOff := d.Claim(es)
	stored, err := o.EnqueueStored(context.Background(), nil, es...)
	if err != nil {
		handOff(nil)
		t.Fatalf("EnqueueStored: %v", err)
	}
	handOff(stored)
}
