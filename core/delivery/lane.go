package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies for failures the dispatcher finds itself.
const (
	remedyUnknown = "The transport is no longer configured: add it back, or change the contact's via and retry the entry with tocsin outbox retry."
	remedyBuild   = "The notification cannot be turned into a message for this transport: check the contact's addresses and the rule's template."
)

// serve is one of the workers of the lane of transport t: it sends what
// the lane holds, one batch per turn, taking a slot for each send so that
// no more than Policy.Concurrency Sends are in flight at once and waiting
// lanes take turns.
func (d *Dispatcher) serve(t string) {
	defer d.wg.Done()
	for {
		if !d.takeSlot(t) {
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

// takeSlot takes a send slot for a worker of t's lane, or counts the worker
// out of the lane and reports false. The lane's only worker waits for a
// slot until the dispatcher stops. Another worker takes one only while a
// second stays free, so that a transport that hangs holds no more slots
// than one of the other lanes can do without; otherwise it leaves the lane
// to the worker that stays.
func (d *Dispatcher) takeSlot(t string) bool {
	d.mu.Lock()
	l := d.lanes[t]
	if l.workers > 1 {
		defer d.mu.Unlock()
		if len(d.slots) <= cap(d.slots)-2 && !d.isStopping() {
			select {
			case d.slots <- struct{}{}:
				return true
			default:
			}
		}
		l.leave()
		return false
	}
	d.mu.Unlock()
	select {
	case d.slots <- struct{}{}:
		return true
	case <-d.stopping:
		d.mu.Lock()
		d.dropLocked(l)
		l.leave()
		d.mu.Unlock()
		return false
	}
}

// turn sends one batch from t's lane. It reports whether the worker goes
// on; when it does not, it has counted itself out of the lane's workers.
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
		l.leave()
		d.mu.Unlock()
		return false
	}
	if until := d.paused[t]; until.After(d.now()) {
		// Rate limited while entries waited in the lane: they wait for
		// the end of the pause, and no attempt is counted.
		deferred := l.queue
		l.queue = nil
		l.leave()
		d.mu.Unlock()
		for _, e := range deferred {
			e.NextAttempt = until
		}
		d.save(d.storeCtx, deferred)
		return false
	}
	n := min(size, len(l.queue))
	if budget := d.budget(t); budget > 0 {
		// As many as fit in the budget, and at least one: deliver fails
		// a message over it on its own.
		total := entrySize(l.queue[0])
		for k := 1; k < n; k++ {
			total += entrySize(l.queue[k])
			if total > budget {
				n = k
				break
			}
		}
	}
	allowed, next := d.allowance(t, n, r, batches)
	if allowed == 0 {
		// The transport's Rate: the lane's entries are let go unchanged
		// until next, when the loop queues them again.
		d.throttled[t] = next
		d.dropLocked(l)
		l.leave()
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
		msgs  []*sdk.Message
		sent  []int // indexes in batch of msgs
		bytes int   // of msgs
		later []*outbox.Entry
	)
	budget := d.budget(t)
	from, ferr := d.t.From(t)
	for i, e := range batch {
		if ferr != nil {
			errs[i] = buildError(t, ferr)
			continue
		}
		m := notify.Message(e, from)
		if budget > 0 {
			size := sdk.MessageSize(m)
			if size > budget {
				errs[i] = tooLarge(t, size, budget)
				continue
			}
			if bytes+size > budget {
				// Built larger than its entry said: it waits for the
				// next batch, unchanged.
				later = append(later, e)
				batch[i] = nil
				continue
			}
			bytes += size
		}
		msgs = append(msgs, m)
		sent = append(sent, i)
	}
	d.mu.Lock()
	for _, e := range later {
		delete(d.held, e.ID)
	}
	d.mu.Unlock()
	var latency time.Duration
	if len(msgs) > 0 {
		results, err := d.send(t, msgs)
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
					receipts[i] = sdk.Truncate(r.Receipt, MaxReceiptBytes)
				}
			}
		}
	}

	sentIDs := map[string]bool{} // entries whose message went to Send
	for _, i := range sent {
		if batch[i] != nil {
			sentIDs[batch[i].ID] = true
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
		d.pause(t, now.Add(de.RetryAfter)) // no RetryAfter: until now, no pause
		events = append(events, d.fail(e, t, de, start, now))
		failed = append(failed, e)
	}
	d.mu.Lock()
	w := d.waiting[t]
	for _, id := range done {
		delete(w, id)
	}
	for _, e := range failed {
		// Only a send that failed as a whole blames the transport: an
		// entry failing beside messages it accepted has its own fault.
		if len(done) == 0 && sentIDs[e.ID] && e.State == outbox.Pending && e.Transport() == t {
			if w == nil {
				w = map[string]struct{}{}
				d.waiting[t] = w
			}
			w[e.ID] = struct{}{}
		} else {
			delete(w, e.ID)
		}
	}
	if len(done) > 0 {
		// The transport accepts: the next round brings its waiting
		// entries forward, if it has any.
		d.recovered[t] = struct{}{}
	}
	d.mu.Unlock()
	for _, ev := range events {
		ev()
	}
	d.finish(d.storeCtx, done)
	d.save(d.storeCtx, failed)
}

// budget returns t's byte budget per Send; 0 is none.
func (d *Dispatcher) budget(t string) int {
	if bl, ok := d.t.(ByteLimits); ok {
		return max(bl.MaxBatchBytes(t), 0)
	}
	return 0
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
		Error:     sdk.Truncate(de.Error(), MaxErrorBytes+MaxCodeBytes+64),
		Wait:      de.RetryAfter,
	}
}

// classify turns a Send error into a DeliveryError: an unknown transport
// is permanent, an unclassified error temporary. Its texts are capped.
func classify(err error) *sdk.DeliveryError {
	if errors.Is(err, ErrUnknownTransport) {
		return capped(sdk.PermanentError(err, "", remedyUnknown))
	}
	return capped(sdk.AsDeliveryError(err))
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
		return capped(sdk.PermanentError(err, "", remedyUnknown))
	}
	return capped(sdk.PermanentError(&buildErr{transport: t, err: err}, "", remedyBuild))
}

const (
	// DefaultSendTimeout bounds a Send through a transport that sets no
	// timeout of its own: above the 30s per connection, command or
	// request of the bundled plugins.
	DefaultSendTimeout = 2 * time.Minute
	// sendGrace is how long a Send whose context was cancelled may take to
	// return before it is left behind.
	sendGrace = 5 * time.Second
	// maxStuck is how many Sends left behind a transport may have before
	// it is not called again until one returns.
	maxStuck = 2
)

// ErrSendTimeout is wrapped by the error of a Send that did not answer
// within its transport's send timeout.
var ErrSendTimeout = errors.New("the plugin did not answer in time")

const remedySendTimeout = "The plugin did not answer within send_timeout; Tocsin retries, and moves to the next transport of the contact's via list after max_age. Check the plugin's log lines and the provider; raise the transport's send_timeout if large batches need longer."

// answer is what a Send returned.
type answer struct {
	results []sdk.Result
	err     error
}

// send calls Transports.Send through t under t's send timeout. A call that
// does not answer in time is cancelled; one that ignores the cancellation
// is left behind after sendGrace (at most maxStuck per transport, after
// which t is not called until one returns) and the attempt fails,
// temporarily, with ErrSendTimeout. On Stop's deadline it returns the
// cancellation, whatever the call does.
func (d *Dispatcher) send(t string, msgs []*sdk.Message) ([]sdk.Result, error) {
	timeout := d.sendTimeout(t)
	d.mu.Lock()
	stuck := d.stuck[t]
	d.mu.Unlock()
	if stuck >= maxStuck {
		return nil, sdk.TemporaryError(fmt.Errorf("transport %s: %d earlier sends did not return after send_timeout %s: %w", t, stuck, timeout, ErrSendTimeout), "", remedySendTimeout)
	}
	ctx, cancel := context.WithTimeout(d.sendCtx, timeout)
	defer cancel()
	ch := make(chan answer, 1)
	var (
		mu                  sync.Mutex // orders returned and abandoned
		returned, abandoned bool
	)
	go func() {
		r, err := d.t.Send(ctx, t, msgs)
		mu.Lock()
		returned = true
		if abandoned {
			d.mu.Lock()
			d.stuck[t]--
			d.mu.Unlock()
			d.log.Info("a send left behind has returned", "transport", t, "error", err)
		}
		mu.Unlock()
		ch <- answer{r, err}
	}()
	timedOut := func() error {
		return sdk.TemporaryError(fmt.Errorf("transport %s: no answer within send_timeout %s: %w", t, timeout, ErrSendTimeout), "", remedySendTimeout)
	}
	select {
	case a := <-ch:
		// The deadline is judged by the wall clock, as gRPC judges it: its
		// DeadlineExceeded can come before the context's timer has fired.
		if a.err != nil && d.sendCtx.Err() == nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || deadlinePassed(ctx)) {
			return nil, timedOut()
		}
		return a.results, a.err
	case <-d.after(timeout):
	case <-d.sendCtx.Done():
	}
	cancel()
	var grace <-chan time.Time
	if d.sendCtx.Err() != nil {
		grace = time.After(abortGrace / 2)
	} else {
		grace = d.after(sendGrace)
	}
	select {
	case a := <-ch:
		if a.err == nil && d.sendCtx.Err() == nil {
			return a.results, nil // it made it after all
		}
	case <-grace:
		mu.Lock()
		if returned {
			// It returned just now: no call is left behind.
			mu.Unlock()
			a := <-ch
			if a.err == nil && d.sendCtx.Err() == nil {
				return a.results, nil
			}
			break
		}
		abandoned = true
		d.mu.Lock()
		d.stuck[t]++
		n := d.stuck[t]
		d.mu.Unlock()
		mu.Unlock()
		d.log.Warn("the plugin ignored the cancellation of a send; leaving the call behind", "transport", t, "send_timeout", timeout, "left_behind", n)
	}
	if err := d.sendCtx.Err(); err != nil {
		return nil, err
	}
	return nil, timedOut()
}

// deadlinePassed reports whether ctx's deadline is behind the wall clock.
func deadlinePassed(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
