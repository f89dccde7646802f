package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Queue is what the dispatcher needs of the outbox.
type Queue interface {
	// Due returns up to limit pending entries whose NextAttempt has come,
	// earliest first, and the NextAttempt of the earliest pending entry not
	// yet due (the zero time when there is none). The entries are the
	// caller's: Due returns fresh copies on every call.
	Due(limit int) ([]*outbox.Entry, time.Time, error)
	// Save stores entries in one synced write.
	Save(ctx context.Context, entries ...*outbox.Entry) error
	// Done removes the entries with these IDs, which were sent, in one
	// synced write.
	Done(ctx context.Context, ids ...string) error
}

// Getter is implemented by a Queue that can read one entry, pending or
// not; the outbox does. With it, the dispatcher brings forward the entries
// waiting on a transport that accepts again.
type Getter interface {
	// Get returns a fresh copy of the entry with this ID, or an error.
	Get(id string) (*outbox.Entry, error)
}

// Transports names each transport's sender and sends through it; the
// agent implements it over its plugins. The dispatcher builds each entry's
// message itself (notify.Message).
type Transports interface {
	// From returns the address transport's messages come from (its from
	// setting; notify.Sender parses it). It returns an error wrapping
	// ErrUnknownTransport for a name it does not know.
	From(transport string) (sdk.Address, error)
	// Send sends msgs through transport, with sdk.Transport.Send
	// semantics: a non-nil error applies to all; otherwise there is one
	// Result per message, in order. It returns an error wrapping
	// ErrUnknownTransport for a name it does not know.
	Send(ctx context.Context, transport string, msgs []*sdk.Message) ([]sdk.Result, error)
	// Batch reports whether transport takes several messages per Send.
	Batch(transport string) bool
	// Rate returns transport's send limit; the zero Rate is none.
	Rate(transport string) Rate
}

// ByteLimits is implemented by Transports whose transports take a bounded
// number of bytes per Send; without it, there is no limit.
type ByteLimits interface {
	// MaxBatchBytes returns the most bytes of messages transport takes in
	// one Send (as sdk.MessageSize counts them); 0 is no limit.
	MaxBatchBytes(transport string) int
}

// SendTimeouts is implemented by Transports whose transports have their
// own send timeout; without it, every Send has DefaultSendTimeout.
type SendTimeouts interface {
	// SendTimeout returns how long one Send through transport may take;
	// 0 means DefaultSendTimeout.
	SendTimeout(transport string) time.Duration
}

// Rate is a transport's send limit: at most Messages per Per, spread
// evenly (one every Per/Messages; a transport that batches may send up
// to a batch at once after waiting as long). The zero Rate is no limit.
// A provider's Retry-After still wins over it.
type Rate struct {
	Messages int
	Per      time.Duration
}

// ErrUnknownTransport is wrapped by Transports for a transport name that
// is not configured (a reload removed it). The dispatcher treats it as a
// permanent failure on that transport, so the next one of the chain takes
// over.
var ErrUnknownTransport = errors.New("unknown transport")

// ErrBuild is wrapped by the error of an entry whose message could not be
// built for a transport (Transports.From fails, or the message is larger
// than the transport takes): it fails the entry's hop like a permanent
// error.
var ErrBuild = errors.New("cannot build the message")

const (
	// storeRetry is how soon a failed Due, Save or Done is tried again.
	storeRetry = time.Second
	// maxIdle bounds a sleep, so a jump of the wall clock is noticed.
	maxIdle = time.Minute
	// abortGrace is how long Stop waits, once its deadline has passed and
	// the sends in flight were cancelled, for them to return.
	abortGrace = time.Second
)

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithClock makes the dispatcher read the time from now instead of
// time.Now. It must be the clock the Queue uses to tell what is due.
func WithClock(now func() time.Time) Option {
	return func(d *Dispatcher) {
		if now != nil {
			d.now = now
		}
	}
}

// WithRand makes the dispatcher draw the jitter of its backoff from rnd,
// which returns numbers in [0, 1). Calls are serialized.
func WithRand(rnd func() float64) Option {
	return func(d *Dispatcher) {
		if rnd != nil {
			d.rnd = rnd
		}
	}
}

// WithAfter makes the dispatcher time its sends with after instead of
// time.After; tests pass the fake clock that WithClock reads.
func WithAfter(after func(time.Duration) <-chan time.Time) Option {
	return func(d *Dispatcher) {
		if after != nil {
			d.after = after
		}
	}
}

// Dispatcher sends the entries of a Queue through Transports. Create it
// with New, run it with Run, stop it with Stop.
type Dispatcher struct {
	q          Queue
	t          Transports
	p          Policy
	obs        Observer
	log        hclog.Logger
	now        func() time.Time
	after      func(time.Duration) <-chan time.Time
	fetch      int           // entries read per round beyond those held
	laneCp     int           // entries queued per transport: a batch per Send it may have in flight, and one more
	storeRetry time.Duration // how soon a failed store call is tried again

	rndMu sync.Mutex
	rnd   func() float64

	logMu   sync.Mutex
	lastErr map[string]string // store call -> the last error logged

	kick     chan struct{}
	stopping chan struct{}
	stopOnce sync.Once
	done     chan struct{} // closed when Run has returned
	slots    chan struct{} // one per Send in flight
	wg       sync.WaitGroup

	// Set by Run before any lane starts.
	sendCtx  context.Context // cancelled when Stop's deadline passes
	abort    context.CancelFunc
	storeCtx context.Context // never cancelled: results are always recorded

	// warmCtx is the context of the warm-ups (Warm), cancelled by
	// stopWarming, which sets it nil; warms counts those in flight. Both
	// are guarded by mu.
	warmCtx    context.Context
	warmCancel context.CancelFunc
	warms      sync.WaitGroup

	// roundsBegun and roundsDone count rounds, for tests to wait on.
	roundsBegun, roundsDone atomic.Int64

	mu      sync.Mutex
	started bool
	// held are the entries the dispatcher is working on: queued in a lane,
	// being sent, or waiting for a Save or Done to succeed. A round never
	// picks a held entry, whatever Due says.
	held map[string]struct{}
	// released are the entries let go since the current round called Due:
	// its copy of them may be stale, so the round leaves them to the next.
	released map[string]struct{}
	lanes    map[string]*lane
	paused   map[string]time.Time // transport -> end of its Retry-After
	// throttled holds, per transport, when its Rate lets the next message
	// go, while it lets none go now; limits are the token buckets.
	throttled map[string]time.Time
	limits    map[string]*limiter
	stuck     map[string]int // transport -> Sends left behind, not returned yet
	// waiting holds, per transport, the IDs of the entries that failed on
	// it temporarily and wait for their retry; recovered the transports
	// that accepted a message since, whose waiting entries the next round
	// brings forward.
	waiting   map[string]map[string]struct{}
	recovered map[string]struct{}
	unsaved   map[string]*outbox.Entry // changed entries whose Save failed
	undone    map[string]struct{}      // sent entries whose Done failed
	skipped   int                      // due entries the last round left: their lane was full or throttled
}

// lane is the work queued for one transport.
type lane struct {
	queue   []*outbox.Entry
	workers int // goroutines serving the lane, each a Send at a time
}

// leave counts a worker out of the lane; d.mu is held.
func (l *lane) leave() { l.workers-- }

// New returns a Dispatcher that sends q's entries through t under policy p
// (a zero field takes its default, see Policy). o and logger may be nil.
// The options inject the clock and the random source, for tests.
func New(q Queue, t Transports, p Policy, o Observer, logger hclog.Logger, opts ...Option) *Dispatcher {
	if o == nil {
		o = NopObserver{}
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	p = p.withDefaults()
	d := &Dispatcher{
		q: q, t: t, p: p, obs: o, log: logger,
		now:        time.Now,
		after:      time.After,
		rnd:        rand.Float64,
		fetch:      p.Concurrency * p.BatchSize,
		laneCp:     (p.SendsPerTransport + 1) * p.BatchSize,
		storeRetry: storeRetry,
		kick:       make(chan struct{}, 1),
		stopping:   make(chan struct{}),
		done:       make(chan struct{}),
		slots:      make(chan struct{}, p.Concurrency),
		held:       map[string]struct{}{},
		released:   map[string]struct{}{},
		lanes:      map[string]*lane{},
		paused:     map[string]time.Time{},
		throttled:  map[string]time.Time{},
		limits:     map[string]*limiter{},
		stuck:      map[string]int{},
		unsaved:    map[string]*outbox.Entry{},
		waiting:    map[string]map[string]struct{}{},
		recovered:  map[string]struct{}{},
		undone:     map[string]struct{}{},
		lastErr:    map[string]string{},
	}
	for _, opt := range opts {
		opt(d)
	}
	return d
}

// Kick tells the dispatcher that entries were enqueued, so it looks for
// due entries now rather than at its next wake-up. It never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends or Stop is called: it sleeps until the
// next due time or a Kick, picks the due entries, groups them by current
// transport and sends each group, transports in parallel up to
// Policy.Concurrency. Then it takes no new work and waits for the sends in
// flight, bounded by the deadline given to Stop, and returns nil. Store
// errors are logged and retried, never returned. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("run dispatcher: already run")
	}
	d.started = true
	d.sendCtx, d.abort = context.WithCancel(context.WithoutCancel(ctx))
	d.storeCtx = context.WithoutCancel(ctx)
	d.warmCtx, d.warmCancel = context.WithCancel(d.sendCtx)
	d.mu.Unlock()
	defer close(d.done)
	defer d.abort()
	defer d.stopWarming()

	d.loop(ctx)

	// Each lane lets go of what it queued when it sees stopping. Under
	// mu: a hand-off (Claim) that did not see it stopping has added its
	// workers by the time mu is free, and the later ones see it.
	d.mu.Lock()
	d.stopOnce.Do(func() { close(d.stopping) })
	d.mu.Unlock()
	d.wg.Wait()
	d.flush(d.storeCtx)
	return nil
}

// Stop makes Run take no new work and waits until the sends in flight
// have finished and Run has returned, or until ctx ends. Then it cancels
// the sends still in flight, whose entries stay as they were (pending, to
// be sent again), waits a moment for them to return, and returns an error
// wrapping ctx's. Stop before Run makes Run return at once.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() { close(d.stopping) })
	d.mu.Lock()
	started, abort := d.started, d.abort
	d.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
	}
	abort()
	t := time.NewTimer(abortGrace)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
	}
	return fmt.Errorf("drain sends in flight: %w", ctx.Err())
}

// isStopping reports whether Stop was called or Run's context ended.
func (d *Dispatcher) isStopping() bool {
	select {
	case <-d.stopping:
		return true
	default:
		return false
	}
}

// loop runs rounds until ctx ends or Stop is called.
func (d *Dispatcher) loop(ctx context.Context) {
	timer := time.NewTimer(maxIdle)
	defer timer.Stop()
	for {
		if ctx.Err() != nil || d.isStopping() {
			return
		}
		wake, again := d.round()
		if again {
			continue
		}
		wait := maxIdle
		if !wake.IsZero() {
			wait = min(wait, wake.Sub(d.now()))
		}
		timer.Reset(wait) // at once when wake has come
		select {
		case <-ctx.Done():
			return
		case <-d.stopping:
			return
		case <-d.kick:
		case <-timer.C:
		}
	}
}

// round retries failed store writes, then reads the due entries and queues
// them in their lanes. It returns when to look again (zero: at the next
// Kick) and whether to look again at once.
func (d *Dispatcher) round() (wake time.Time, again bool) {
	d.roundsBegun.Add(1)
	defer d.roundsDone.Add(1)
	if !d.flush(d.storeCtx) {
		wake = d.now().Add(d.storeRetry)
	}
	d.hasten()

	d.mu.Lock()
	clear(d.released)
	limit := len(d.held) + d.skipped + d.fetch
	d.mu.Unlock()

	entries, next, err := d.q.Due(limit)
	if err != nil {
		d.storeError("due", err, "in", d.storeRetry)
		return d.now().Add(d.storeRetry), false
	}
	d.storeError("due", nil)
	// The lane of a transport that batches gets a worker for every batch
	// it holds, up to SendsPerTransport (its plugin spreads them over its
	// connections); one that sends a message per call keeps one worker,
	// so that a Retry-After it answers stops the next message. Asked
	// before the lock, as the agent's answer takes its own.
	batches := map[string]bool{}
	for _, e := range entries {
		if t := e.Transport(); t != "" {
			if _, ok := batches[t]; !ok {
				batches[t] = d.t.Batch(t)
			}
		}
	}
	now := d.now()
	var (
		write   []*outbox.Entry // deferred or dead entries to save
		dead    []deadLetter
		start   []string
		claimed int
		skipped int
	)
	d.mu.Lock()
	for _, e := range entries {
		if _, ok := d.held[e.ID]; ok {
			continue
		}
		if _, ok := d.released[e.ID]; ok {
			// Let go by a lane during this round, whose serve kicks
			// the loop after: the next round reads it afresh.
			continue
		}
		if e.State != outbox.Pending {
			continue
		}
		t := e.Transport()
		if t == "" {
			// A pending entry beyond its chain (or with none): nothing
			// can send it.
			de := sdk.PermanentError(errNoTransport, "", "Give the contact a transport (via) and retry the entry with tocsin outbox retry.")
			d.record(e, "", de, now)
			e.State = outbox.Dead
			write = append(write, e)
			d.held[e.ID] = struct{}{}
			dead = append(dead, deadLetter{e, de})
			continue
		}
		if until := d.paused[t]; until.After(now) {
			// The transport asked us to wait: not an attempt.
			e.NextAttempt = until
			write = append(write, e)
			d.held[e.ID] = struct{}{}
			wake = earliest(wake, until)
			continue
		}
		if until := d.throttled[t]; until.After(now) {
			// The transport's Rate lets nothing go yet: the entries stay
			// as they are, and the loop wakes when it does.
			skipped++
			wake = earliest(wake, until)
			continue
		}
		l := d.lanes[t]
		if l == nil {
			l = &lane{}
			d.lanes[t] = l
		}
		if len(l.queue) >= d.laneCp {
			skipped++
			continue
		}
		l.queue = append(l.queue, e)
		d.held[e.ID] = struct{}{}
		claimed++
		if l.workers < d.workersFor(len(l.queue), batches[t]) {
			l.workers++
			start = append(start, t)
		}
	}
	d.skipped = skipped
	d.mu.Unlock()

	for _, t := range start {
		d.wg.Add(1)
		go d.serve(t)
	}
	for _, x := range dead {
		d.obs.DeadLettered(x.e, x.err)
	}
	d.save(d.storeCtx, write)

	if len(entries) >= limit {
		// There may be more due entries than we read: read again at once
		// if this round did anything, else when a lane has room.
		return wake, claimed+len(write) > 0
	}
	return earliest(wake, next), false
}

// workersFor is the number of workers a lane holding queued entries
// wants: one per batch, up to SendsPerTransport, for a transport that
// batches; one for a transport that does not.
func (d *Dispatcher) workersFor(queued int, batches bool) int {
	if !batches {
		return 1
	}
	return min((queued+d.p.BatchSize-1)/d.p.BatchSize, d.p.SendsPerTransport)
}

// hasten makes the entries waiting on a transport that accepted messages
// again due now: the transport is healthy, so the backoff their failures
// on it earned no longer applies. Their next try is an ordinary attempt,
// under the transport's Rate and any Retry-After pause; making them due
// counts none.
func (d *Dispatcher) hasten() {
	g, ok := d.q.(Getter)
	d.mu.Lock()
	if len(d.recovered) == 0 {
		d.mu.Unlock()
		return
	}
	var ids []string
	for t := range d.recovered {
		for id := range d.waiting[t] {
			if _, held := d.held[id]; !held {
				ids = append(ids, id)
			}
		}
		delete(d.waiting, t)
	}
	clear(d.recovered)
	d.mu.Unlock()
	if !ok || len(ids) == 0 {
		return
	}
	now := d.now()
	var due []*outbox.Entry
	for _, id := range ids {
		e, err := g.Get(id)
		if err != nil || e.State != outbox.Pending || !e.NextAttempt.After(now) {
			continue // gone, dead, or due anyway
		}
		e.NextAttempt = now
		due = append(due, e)
	}
	d.mu.Lock()
	kept := due[:0]
	for _, e := range due {
		if _, held := d.held[e.ID]; !held {
			d.held[e.ID] = struct{}{}
			kept = append(kept, e)
		}
	}
	d.mu.Unlock()
	if len(kept) > 0 {
		d.log.Debug("transport accepts again; its waiting entries are due now", "entries", len(kept))
		d.save(d.storeCtx, kept)
	}
}

// deadLetter is an entry that failed on its whole chain, and why.
type deadLetter struct {
	e   *outbox.Entry
	err *sdk.DeliveryError
}

var errNoTransport = errors.New("no transport left in the contact's chain")

// earliest returns the earlier of a and b, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

// dropLocked lets go of the entries queued in l, unsent and unchanged.
func (d *Dispatcher) dropLocked(l *lane) {
	for _, e := range l.queue {
		delete(d.held, e.ID)
	}
	l.queue = nil
}

// releaseLocked lets go of the entries with these IDs, whose new state is
// in the outbox.
func (d *Dispatcher) releaseLocked(ids ...string) {
	for _, id := range ids {
		delete(d.held, id)
		d.released[id] = struct{}{}
	}
}

// save stores entries the dispatcher holds and lets go of them; when the
// write fails, it keeps them held and retries at the next round, so no
// other copy of them is sent meanwhile.
func (d *Dispatcher) save(ctx context.Context, entries []*outbox.Entry) {
	if len(entries) == 0 {
		return
	}
	err := d.q.Save(ctx, entries...)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.storeError("save", err, "entries", len(entries))
		for _, e := range entries {
			d.unsaved[e.ID] = e
		}
		return
	}
	d.storeError("save", nil)
	for _, e := range entries {
		delete(d.unsaved, e.ID)
		d.releaseLocked(e.ID)
	}
}

// finish removes sent entries the dispatcher holds from the outbox and
// lets go of them; when the write fails, it keeps them held (never sent
// again) and retries at the next round.
func (d *Dispatcher) finish(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	err := d.q.Done(ctx, ids...)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.storeError("done", err, "entries", len(ids))
		for _, id := range ids {
			d.undone[id] = struct{}{}
		}
		return
	}
	d.storeError("done", nil)
	for _, id := range ids {
		delete(d.undone, id)
		d.releaseLocked(id)
	}
}

// flush retries the Saves and Dones that failed. It reports whether none
// is left.
func (d *Dispatcher) flush(ctx context.Context) bool {
	d.mu.Lock()
	entries := make([]*outbox.Entry, 0, len(d.unsaved))
	for _, e := range d.unsaved {
		entries = append(entries, e)
	}
	ids := make([]string, 0, len(d.undone))
	for id := range d.undone {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	d.finish(ctx, ids)
	d.save(ctx, entries)
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.unsaved) == 0 && len(d.undone) == 0
}

// storeMessages are the log messages of failed store calls.
var storeMessages = map[string]string{
	"due":  "cannot read the due entries of the outbox; trying again",
	"save": "cannot save entries to the outbox; keeping them until it works",
	"done": "cannot remove sent entries from the outbox; keeping them until it works",
}

// storeError logs a failed store call (op is "due", "save" or "done") at
// error level when its error differs from the last one logged for op, at
// debug level otherwise, so that a broken disk does not flood the log. A
// nil err (op worked) clears op's memory and logs nothing.
func (d *Dispatcher) storeError(op string, err error, kv ...any) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	if err == nil {
		delete(d.lastErr, op)
		return
	}
	kv = append(kv, "error", err)
	if text := err.Error(); text != d.lastErr[op] {
		d.lastErr[op] = text
		d.log.Error(storeMessages[op], kv...)
		return
	}
	d.log.Debug(storeMessages[op], kv...)
}

// jitter returns a number in [0, 1) from the random source.
func (d *Dispatcher) jitter() float64 {
	d.rndMu.Lock()
	defer d.rndMu.Unlock()
	return d.rnd()
}
