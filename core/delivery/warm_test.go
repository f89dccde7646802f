package delivery

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
)

// warmingTransports is fakeTransports with warm-ups: it records each (the
// transport and the messages announced) and holds it until release is
// closed or its context ends.
type warmingTransports struct {
	*fakeTransports
	release chan struct{}

	mu        sync.Mutex
	warmed    map[string]int
	cancelled int
}

func (w *warmingTransports) Warm(ctx context.Context, transport string, n int) {
	w.mu.Lock()
	w.warmed[transport] += n
	w.mu.Unlock()
	select {
	case <-w.release:
	case <-ctx.Done():
		w.mu.Lock()
		w.cancelled++
		w.mu.Unlock()
	}
}

func (w *warmingTransports) snapshot() (map[string]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.warmed), w.cancelled
}

// TestDispatcher_Warm: Warm asks each transport the entries go out
// through at once for a warm-up, with their number, in the background;
// not a transport paused by a Retry-After or held back by its Rate, nor
// before Run or after Stop, and Stop cancels the warm-ups in flight. It
// sends nothing and changes no entry.
func TestDispatcher_Warm(t *testing.T) {
	t.Parallel()
	clk := newClock()
	q := newQueue(clk.Now)
	ft := newTransports().add("smtp", true, nil).add("hook", false, nil).add("paused", true, nil).add("slow", true, nil)
	w := &warmingTransports{fakeTransports: ft, release: make(chan struct{}), warmed: map[string]int{}}
	d := New(q, w, Policy{}, nil, nil, WithClock(clk.Now), WithAfter(clk.After))

	var es []*outbox.Entry
	es = append(es, entries("a", 9, "smtp", "hook")...)
	es = append(es, entries("b", 1, "hook")...)
	es = append(es, entries("c", 2, "paused")...)
	es = append(es, entries("d", 3, "slow")...)
	es = append(es, entry("e@tocsin.test")) // no transport
	d.Warm(es)                              // before Run: nothing
	if got, _ := w.snapshot(); len(got) != 0 {
		t.Fatalf("warm-ups before Run: %v", got)
	}

	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "Run to start", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.started })
	d.mu.Lock()
	d.paused["paused"] = clk.Now().Add(time.Minute)
	d.throttled["slow"] = clk.Now().Add(time.Second)
	d.mu.Unlock()

	done := make(chan struct{})
	go func() { d.Warm(es); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Warm blocked on the warm-ups")
	}
	want := map[string]int{"smtp": 9, "hook": 1}
	eventually(t, "the warm-ups", func() bool { got, _ := w.snapshot(); return maps.Equal(got, want) })
	ft.mu.Lock()
	sends := len(ft.calls)
	ft.mu.Unlock()
	if n := sends; n != 0 {
		t.Errorf("%d Sends: a warm-up sends nothing", n)
	}
	for _, e := range es {
		if e.Attempts != 0 || e.NextAttempt != t0 || e.State != outbox.Pending {
			t.Errorf("entry %s changed: %+v", e.ID, e)
		}
	}

	// Stop cancels the warm-ups still held, and Run waits for them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	<-ran
	if _, cancelled := w.snapshot(); cancelled != 2 {
		t.Errorf("%d warm-ups cancelled by Stop, want 2", cancelled)
	}
	d.Warm(es) // after Stop: nothing
	if got, _ := w.snapshot(); !maps.Equal(got, want) {
		t.Errorf("warm-ups after Stop: %v", got)
	}
}
