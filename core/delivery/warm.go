package delivery

import (
	"context"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
)

// Warmer is implemented by Transports that can get a transport ready for
// messages about to come, such as a plugin that dials and logs in to its
// server ahead of them. A warm-up sends nothing and changes no entry; it
// only shortens the first Send. Its outcome does not matter: the Send
// that follows does what it could not, and reports why.
type Warmer interface {
	// Warm gets transport ready for n messages, and returns when it is,
	// or when ctx ends.
	Warm(ctx context.Context, transport string, n int)
}

// Warm asks the transports that will send entries, which are being
// stored in the outbox, to get ready for them (see Warmer), in the
// background, so that the store's sync and the wake-up of the dispatcher
// overlap the transports' connects and logins. It warms only the
// transports the entries would go out through at once: not one paused by
// a Retry-After or held back by its Rate. It never blocks, and does
// nothing unless Transports is a Warmer and Run runs.
func (d *Dispatcher) Warm(entries []*outbox.Entry) {
	w, ok := d.t.(Warmer)
	if !ok || len(entries) == 0 {
		return
	}
	counts := map[string]int{}
	var order []string
	for _, e := range entries {
		t := e.Transport()
		if t == "" {
			continue
		}
		if counts[t] == 0 {
			order = append(order, t)
		}
		counts[t]++
	}
	now := d.now()
	d.mu.Lock()
	if !d.started || d.isStopping() || d.warmCtx == nil {
		d.mu.Unlock()
		return
	}
	var warm []string
	for _, t := range order {
		if d.paused[t].After(now) || d.throttled[t].After(now) {
			continue
		}
		warm = append(warm, t)
	}
	ctx := d.warmCtx
	d.warms.Add(len(warm))
	d.mu.Unlock()
	for _, t := range warm {
		go func() {
			defer d.warms.Done()
			wctx, cancel := context.WithTimeout(ctx, d.sendTimeout(t))
			defer cancel()
			w.Warm(wctx, t, counts[t])
		}()
	}
}

// sendTimeout is how long one Send through t may take.
func (d *Dispatcher) sendTimeout(t string) time.Duration {
	var timeout time.Duration
	if st, ok := d.t.(SendTimeouts); ok {
		timeout = st.SendTimeout(t)
	}
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	return timeout
}

// stopWarming cancels the warm-ups in flight, lets no new one start, and
// waits for them to return.
func (d *Dispatcher) stopWarming() {
	d.mu.Lock()
	d.warmCtx = nil
	cancel := d.warmCancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.warms.Wait()
}
