package delivery

import (
	"github.com/tocsin-dev/tocsin/core/outbox"
)

// Claim is the hand-off of entries being stored in the outbox: the
// dispatcher queues them in their lanes as soon as the store has synced
// them, without reading them back at its next round. Call Claim before the
// store (it reserves the entries, so that no round takes them from the
// outbox meanwhile), then the function it returns exactly once when the
// store has returned: with the entries it stored, or with none when it
// failed. Nothing is sent before that call, so nothing is sent that is
// not on disk.
//
// The function queues the stored entries that can go out now: pending and
// due, with a transport that is neither paused by a Retry-After nor held
// back by its Rate, in a lane with room. It lets go of the others, which
// stay in the outbox for the rounds, as without the hand-off (it kicks
// the loop for them, unless they only wait for room in a lane that is
// being served: its worker kicks the loop after each batch). It keeps
// copies of the entries: the caller's stay its own. Neither Claim nor the
// function blocks on a Send.
func (d *Dispatcher) Claim(entries []*outbox.Entry) (stored func([]*outbox.Entry)) {
	d.mu.Lock()
	if !d.started || d.isStopping() || len(entries) == 0 {
		d.mu.Unlock()
		return func([]*outbox.Entry) { d.Kick() }
	}
	mine := make(map[string]bool, len(entries))
	for _, e := range entries {
		if _, ok := d.held[e.ID]; !ok {
			d.held[e.ID] = struct{}{}
			mine[e.ID] = true
		}
	}
	d.mu.Unlock()
	return func(stored []*outbox.Entry) { d.handOff(mine, stored) }
}

// handOff queues in their lanes the entries of stored that Claim reserved
// (mine) and that can go out now, and lets go of the rest of mine.
func (d *Dispatcher) handOff(mine map[string]bool, stored []*outbox.Entry) {
	batches := map[string]bool{}
	for _, e := range stored {
		if t := e.Transport(); t != "" && mine[e.ID] {
			if _, ok := batches[t]; !ok {
				batches[t] = d.t.Batch(t)
			}
		}
	}
	now := d.now()
	var (
		start []string
		kick  bool // an entry left for a round that does not wait for a lane's worker
	)
	d.mu.Lock()
	stopping := d.isStopping()
	for _, e := range stored {
		if !mine[e.ID] {
			continue
		}
		delete(mine, e.ID)
		t := e.Transport()
		if stopping || e.State != outbox.Pending || e.NextAttempt.After(now) || t == "" || d.paused[t].After(now) || d.throttled[t].After(now) {
			delete(d.held, e.ID)
			kick = true
			continue
		}
		l := d.lanes[t]
		if l == nil {
			l = &lane{}
			d.lanes[t] = l
		}
		if len(l.queue) >= d.laneCp {
			delete(d.held, e.ID)
			kick = kick || l.workers == 0
			continue
		}
		c := *e
		l.queue = append(l.queue, &c)
		if l.workers < d.workersFor(len(l.queue), batches[t]) {
			l.workers++
			start = append(start, t)
		}
	}
	for id := range mine {
		delete(d.held, id) // not stored: nothing to send
	}
	// Under mu, having seen Run not stopping: Run takes mu before it
	// waits for the workers.
	d.wg.Add(len(start))
	d.mu.Unlock()
	for _, t := range start {
		go d.serve(t)
	}
	if kick {
		d.Kick()
	}
}
