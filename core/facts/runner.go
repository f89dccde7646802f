package facts

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// subscriberBuffer is how many facts a subscriber may fall behind before
// it misses some.
const subscriberBuffer = 64

// ErrStopped is returned by Ready when the runner stopped before every
// check had run once.
var ErrStopped = errors.New("fact runner stopped before every check had run once")

// RunnerOption configures a Runner.
type RunnerOption func(*Runner) error

// WithClock sets the clock that stamps facts (Fact.Observed, Latency, a
// file's age); default time.Now. Intervals and timeouts always run on the
// real clock.
func WithClock(now func() time.Time) RunnerOption {
	return func(r *Runner) error {
		if now == nil {
			return errors.New("clock must not be nil")
		}
		r.now = now
		return nil
	}
}

// WithPeerNotices gives the runner the peers' stop notices: a peer check
// keeps the notice of a peer that says it is stopping and forgets it when
// the peer answers as running, and every peer fact recorded carries its
// peer's notice (stopping, stopped_at, stop_reason). See Runner.Renotice.
func WithPeerNotices(n *PeerNotices) RunnerOption {
	return func(r *Runner) error {
		r.notices = n
		return nil
	}
}

// withRunFunc replaces Run, for tests.
func withRunFunc(run func(context.Context, Spec, func() time.Time) Fact) RunnerOption {
	return func(r *Runner) error {
		r.run = run
		return nil
	}
}

// Runner runs checks on their intervals and keeps the latest fact of each.
// Each check runs in its own goroutine, so checks run concurrently while
// the runs of one check never overlap. Its methods are safe for concurrent
// use.
type Runner struct {
	logger hclog.Logger
	specs  []Spec
	now    func() time.Time
	run    func(context.Context, Spec, func() time.Time) Fact
	// notices are the peers' stop notices (WithPeerNotices); nil: none.
	notices *PeerNotices

	mu    sync.Mutex
	facts map[string]Fact
	subs  map[chan Fact]struct{}
	// changed holds, for each check whose fact changed since
	// TakeChanged last took them, its fact before the first of those
	// changes; changes is signalled (without blocking: it holds one) when
	// a check is added to it.
	changed map[string]Fact
	changes chan struct{}
	started bool
	stopped bool
	pending int           // checks that have not run yet
	ready   chan struct{} // closed when pending reaches 0
	done    chan struct{} // closed by Stop
	cancel  context.CancelFunc

	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewRunner returns a runner of specs, with their defaults applied. It
// reports every invalid spec and every name used twice, joined in one
// error. A nil logger logs nothing.
func NewRunner(logger hclog.Logger, specs []Spec, opts ...RunnerOption) (*Runner, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	r := &Runner{
		logger:  logger.Named("facts"),
		now:     time.Now,
		facts:   make(map[string]Fact, len(specs)),
		subs:    make(map[chan Fact]struct{}),
		changed: make(map[string]Fact),
		changes: make(chan struct{}, 1),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.run = r.runLogged
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, fmt.Errorf("configure fact runner: %w", err)
		}
	}
	var errs []error
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("check %q: name: used by another check", s.Name))
			continue
		}
		seen[s.Name] = true
		r.specs = append(r.specs, s.WithDefaults())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.pending = len(r.specs)
	if r.pending == 0 {
		close(r.ready)
	}
	return r, nil
}

// Start runs every check at once and then every Every, each in its own
// goroutine, until ctx ends or Stop is called. Start returns at once; it
// does nothing when called again or after Stop.
func (r *Runner) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	for _, s := range r.specs {
		r.wg.Add(1)
		go r.loop(ctx, s)
	}
	r.logger.Debug("checks started", "checks", len(r.specs))
}

// runLogged is Run, with a check that panics logged with its stack.
func (r *Runner) runLogged(ctx context.Context, s Spec, now func() time.Time) Fact {
	e := systemEnv(now)
	e.notices = r.notices
	e.panicked = func(s Spec, value any, stack []byte) {
		r.logger.Error("check panicked; this is a bug", "check", s.Name, "kind", s.Kind, "panic", value, "stack", string(stack))
	}
	return run(ctx, s, e, lookupChecker, stopGrace)
}

// loop runs one check until ctx ends: at once, then after Every less
// the check's spread (see spread), then every Every.
func (r *Runner) loop(ctx context.Context, s Spec) {
	defer r.wg.Done()
	var ticker *time.Ticker
	first := time.NewTimer(s.Every - spread(s.Name, s.Every))
	defer first.Stop()
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	var last *Fact
	for {
		f := r.run(ctx, s, r.now)
		if ctx.Err() != nil {
			// Cut short by the runner's end: not an observation.
			return
		}
		f.Check = s.Name
		r.record(f)
		r.logChange(last, f)
		last = &f
		if ticker == nil {
			select {
			case <-ctx.Done():
				return
			case <-first.C:
			}
			ticker = time.NewTicker(s.Every)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// spread is how much sooner than Every a check runs the second time:
// from 0 to half of every, the same for the same name. Checks that
// start together would otherwise all run at the same moments, a
// thousand file reads or command starts at once, every interval, and
// the rule ticks that fall on those moments wait behind them.
// Shortening the first interval, never lengthening it, keeps every fact
// younger than its check's interval.
func spread(name string, every time.Duration) time.Duration {
	if every <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(every/2))
}

// record keeps f as its check's latest fact, notes a change (see
// Changed) and hands f to subscribers. A subscriber whose buffer is full
// misses it.
func (r *Runner) record(f Fact) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(f)
}

// Renotice records the latest fact of the peer named check again with its
// peer's stop notice applied, so that a notice that just came is seen by
// the rules at once, not at the peer's next run (which may be far off:
// the peer's every has no upper bound). It reports whether there was a
// fact to record.
func (r *Runner) Renotice(check string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.facts[check]
	if !ok || r.notices == nil {
		return false
	}
	r.recordLocked(f.clone())
	return true
}

// recordLocked is record with r.mu held.
func (r *Runner) recordLocked(f Fact) {
	r.notices.apply(&f)
	prev, seen := r.facts[f.Check]
	if !seen {
		r.pending--
		if r.pending == 0 {
			close(r.ready)
		}
	} else if _, pending := r.changed[f.Check]; !pending && !prev.Same(f) {
		r.changed[f.Check] = prev
		select {
		case r.changes <- struct{}{}:
		default: // already signalled, not yet taken
		}
	}
	r.facts[f.Check] = f
	for ch := range r.subs {
		select {
		case ch <- f.clone():
		default:
			r.logger.Debug("subscriber is behind, fact dropped", "check", f.Check)
		}
	}
}

// logChange logs a check that starts failing, fails differently or
// recovers, and every fact at trace level.
func (r *Runner) logChange(last *Fact, f Fact) {
	r.logger.Trace("fact", "check", f.Check, "ok", f.OK, "error", f.Error, "latency", f.Latency)
	switch {
	case !f.OK && (last == nil || last.OK):
		r.logger.Info("check failing", "check", f.Check, "kind", f.Kind, "error", f.Error)
	case !f.OK && last.Error != f.Error:
		r.logger.Debug("check still failing", "check", f.Check, "error", f.Error)
	case f.OK && last != nil && !last.OK:
		r.logger.Info("check recovered", "check", f.Check, "kind", f.Kind)
	}
}

// Stop stops every check, waits until their goroutines have ended and
// closes the subscribers' channels. A run in progress is cut short and its
// fact dropped. Stop may be called more than once, and before Start.
func (r *Runner) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopped = true
		cancel := r.cancel
		close(r.done)
		r.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		r.wg.Wait()
		r.mu.Lock()
		for ch := range r.subs {
			close(ch)
		}
		clear(r.subs)
		r.mu.Unlock()
	})
}

// Snapshot returns the latest fact of every check that has run, by check
// name. The map and the facts' Values are copies.
func (r *Runner) Snapshot() map[string]Fact {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Fact, len(r.facts))
	for name, f := range r.facts {
		out[name] = f.clone()
	}
	return out
}

// Changed returns a channel that receives a value when a check's fact
// changes, that is when it is not the Same as the check's previous fact (a
// check's first fact is no change). Then TakeChanged says which checks
// changed. The channel holds one value: changes that come before
// TakeChanged takes them add to the same signal, so however many checks
// change at once, the receiver wakes once, and never more often than
// facts come. Changed and TakeChanged are for one receiver; Stop does not
// close the channel.
func (r *Runner) Changed() <-chan struct{} { return r.changes }

// Change is a check whose fact changed (see Runner.Changed).
type Change struct {
	// Before is the check's fact before the first of its changes since
	// the last TakeChanged; After is its latest fact. They may be the
	// Same again (a value that flipped and flipped back).
	Before, After Fact
}

// TakeChanged returns the checks whose fact changed since it was last
// called (see Changed), by name, and forgets them. The facts' Values are
// copies.
func (r *Runner) TakeChanged() map[string]Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.changed) == 0 {
		return nil
	}
	out := make(map[string]Change, len(r.changed))
	for name, before := range r.changed {
		out[name] = Change{Before: before.clone(), After: r.facts[name].clone()}
	}
	clear(r.changed)
	return out
}

// Ready returns nil once every check has run at least once, or an error
// when ctx ends first, or ErrStopped when the runner stops first.
func (r *Runner) Ready(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	default:
	}
	select {
	case <-r.ready:
		return nil
	case <-r.done:
		select {
		case <-r.ready:
			return nil
		default:
			return ErrStopped
		}
	case <-ctx.Done():
		return fmt.Errorf("wait for the first facts: %w", ctx.Err())
	}
}

// Subscribe returns a channel that receives every new fact, and a function
// that ends the subscription and closes the channel. A subscriber that
// falls more than a few dozen facts behind misses facts (Snapshot always
// has the latest). Stop closes the channel too; after Stop, Subscribe
// returns a closed channel.
func (r *Runner) Subscribe() (<-chan Fact, func()) {
	ch := make(chan Fact, subscriberBuffer)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		close(ch)
		return ch, func() {}
	}
	r.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if _, ok := r.subs[ch]; ok {
				delete(r.subs, ch)
				close(ch)
			}
		})
	}
}
