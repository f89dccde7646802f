package dispatch

import (
	"errors"
	"fmt"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies for failures the dispatcher finds itself.
const (
	remedyUnknown = "The transport is no longer configured: add it back, or change the contact's via and retry the entry with tocsin outbox retry."
	remedyBuild   = "The notification cannot be turned into a message for this transport: check the contact's addresses and the rule's template."
)

// serve sends what the lane of transport t holds, one batch per turn,
// taking a slot for each send so that no more than Policy.Concurrency
// transports send at once and waiting lanes take turns.
func (d *Dispatcher) serve(t string) {
	defer d.wg.Done()
	for {
		select {
		case d.slots <- struct{}{}:
		case <-d.stopping:
			d.mu.Lock()
			l := d.lanes[t]
			d.dropLocked(l)
			l.running = false
			d.mu.Unlock()
			return
		}
		more := d.turn(t)
		<-d.slots
		d.Kick() // entries were let go: the loop may have more to do
		if !more {
			return
		}
	}
}

// turn sends one batch from t's lane. It reports whether the lane goes
// on; when it does not, it has marked the lane as not running.
func (d *Dispatcher) turn(t string) bool {
	batches, r := d.t.Batch(t), d.t.Rate(t)
	size := 1
	if batches {
		size = d.p.BatchSize
	}
	d.mu.Lock()
	l := d.lanes[t]
	if d.isStopping() || len(l.queue) == 0 {
		d.dropLocked(l)
		l.running = false
		d.mu.Unlock()
		return false
	}
	if until := d.paused[t]; until.After(d.now()) {
		// Rate limited while entries waited in the lane: they wait for
		// the end of the pause, and no attempt is counted.
		deferred := l.queue
		l.queue = nil
		l.running = false
		d.mu.Unlock()
		for _, e := range deferred {
			e.NextAttempt = until
		}
		d.save(d.storeCtx, deferred)
		return false
	}
	n := min(size, len(l.queue))
	allowed, next := d.allowance(t, n, r, batches)
	if allowed == 0 {
		// The transport's Rate: the lane's entries are let go unchanged
		// until next, when the loop queues them again.
		d.throttled[t] = next
		d.dropLocked(l)
		l.running = false
		d.mu.Unlock()
		d.log.Debug("transport at its rate limit; waiting", "transport", t, "until", next)
		return false
	}
	n = allowed
	batch := make([]*outbox.Entry, n)
	copy(batch, l.queue)
	l.queue = l.queue[n:]
	d.mu.Unlock()

	d.deliver(t, batch)
	return true
}

// deliver sends batch through t and records the outcome of every entry.
func (d *Dispatcher) deliver(t string, batch []*outbox.Entry) {
	start := d.now()
	errs := make([]*sdk.DeliveryError, len(batch))
	receipts := make([]string, len(batch))
	var (
		msgs []*sdk.Message
		sent []int // indexes in batch of msgs
	)
	for i, e := range batch {
		m, err := d.t.Message(t, e)
		if err == nil && m == nil {
			err = errors.New("no message")
		}
		if err != nil {
			errs[i] = buildError(t, err)
			continue
		}
		msgs = append(msgs, m)
		sent = append(sent, i)
	}
	var latency time.Duration
	if len(msgs) > 0 {
		results, err := d.t.Send(d.sendCtx, t, msgs)
		latency = d.now().Sub(start)
		if err == nil && len(results) != len(msgs) {
			err = sdk.TemporaryError(fmt.Errorf("transport %s returned %d results for %d messages", t, len(results), len(msgs)), "", "")
		}
		switch {
		case err != nil && d.sendCtx.Err() != nil:
			// Stop's deadline cut the send short: whether the provider
			// took the messages is unknown, so the entries stay as they
			// are, due, and are sent again on the next start.
			d.log.Warn("send cancelled by the stop deadline; the entries stay in the outbox", "transport", t, "entries", len(sent))
			d.mu.Lock()
			for _, i := range sent {
				delete(d.held, batch[i].ID)
			}
			d.mu.Unlock()
			for i := range batch {
				if errs[i] == nil {
					batch[i] = nil
				}
			}
		case err != nil:
			de := classify(err)
			for _, i := range sent {
				errs[i] = de
			}
		default:
			for k, r := range results {
				i := sent[k]
				if r.Err != nil {
					errs[i] = classify(r.Err)
				} else {
					receipts[i] = r.Receipt
				}
			}
		}
	}

	now := d.now()
	var (
		done   []string
		failed []*outbox.Entry
		events []func()
	)
	for i, e := range batch {
		if e == nil {
			continue
		}
		de := errs[i]
		if de == nil {
			done = append(done, e.ID)
			receipt := receipts[i]
			events = append(events, func() { d.obs.Sent(e, t, receipt, latency) })
			continue
		}
		if de.RetryAfter > 0 {
			d.pause(t, now.Add(de.RetryAfter))
		}
		events = append(events, d.fail(e, t, de, start, now))
		failed = append(failed, e)
	}
	for _, ev := range events {
		ev()
	}
	d.finish(d.storeCtx, done)
	d.save(d.storeCtx, failed)
}

// pause holds every entry for t until until ("Retry-After wins").
func (d *Dispatcher) pause(t string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until.After(d.paused[t]) {
		d.paused[t] = until
	}
}

// fail applies the retry policy to e, which failed on transport t with de
// in an attempt started at tried, and returns the observer's event.
func (d *Dispatcher) fail(e *outbox.Entry, t string, de *sdk.DeliveryError, tried, now time.Time) func() {
	if e.HopSince.IsZero() {
		e.HopSince = tried
	}
	e.Attempts++
	e.TotalAttempts++
	d.record(e, t, de, now)
	if de.Temporary() {
		if age := now.Sub(e.HopSince); age < d.p.MaxAge {
			delay := d.p.backoff(e.Attempts, d.jitter())
			delay = max(delay, de.RetryAfter)
			e.NextAttempt = now.Add(delay)
			next := e.NextAttempt
			return func() { d.obs.Retried(e, t, de, next) }
		}
		e.Last.Error += fmt.Sprintf(" (failing on %s since %s, longer than the max age %s)", t, e.HopSince.UTC().Format(time.RFC3339), d.p.MaxAge)
	}
	e.Hop++
	e.Attempts = 0
	e.HopSince = now
	e.NextAttempt = now
	to := e.Transport()
	if to == "" {
		e.State = outbox.Dead
		return func() { d.obs.DeadLettered(e, de) }
	}
	return func() { d.obs.FellBack(e, t, to, de) }
}

// record makes de e's last attempt.
func (d *Dispatcher) record(e *outbox.Entry, t string, de *sdk.DeliveryError, now time.Time) {
	kind := sdk.Temporary
	if !de.Temporary() {
		kind = sdk.Permanent
	}
	e.Last = &outbox.Attempt{
		At:        now,
		Transport: t,
		Kind:      kind.String(),
		Code:      de.Code,
		Reply:     de.Reply,
		Remedy:    de.Remedy,
		Error:     de.Error(),
		Wait:      de.RetryAfter,
	}
}

// classify turns a Send error into a DeliveryError: an unknown transport
// is permanent, an unclassified error temporary.
func classify(err error) *sdk.DeliveryError {
	if errors.Is(err, ErrUnknownTransport) {
		return sdk.PermanentError(err, "", remedyUnknown)
	}
	return sdk.AsDeliveryError(err)
}

// buildErr is why a message could not be built: it is ErrBuild and
// wraps the cause.
type buildErr struct {
	transport string
	err       error
}

func (e *buildErr) Error() string {
	return fmt.Sprintf("build message for transport %s: %v", e.transport, e.err)
}

func (e *buildErr) Unwrap() []error { return []error{ErrBuild, e.err} }

// buildError is the permanent failure of a message that cannot be built.
func buildError(t string, err error) *sdk.DeliveryError {
	if errors.Is(err, ErrUnknownTransport) {
		return sdk.PermanentError(err, "", remedyUnknown)
	}
	return sdk.PermanentError(&buildErr{transport: t, err: err}, "", remedyBuild)
}
