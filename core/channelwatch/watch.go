package channelwatch

import (
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// maxStreakError bounds the last error a streak keeps, in bytes: enough
// for a provider's reply, short enough for a subject line.
const maxStreakError = 512

// Watch watches the alerting channel: as a dispatcher Observer (in
// front of next) it keeps, per transport, the current streak of failed
// attempts, and Fact gives rules the variable outbox: the outbox's counts,
// those streaks and the notifications that could not be stored (see
// rules.OutboxType). Streaks live in memory: an agent starts with none,
// and its pending entries' next attempts build them again. A Watch is
// safe for concurrent use.
type Watch struct {
	next   delivery.Observer
	stats  func() (outbox.Stats, error)
	now    func() time.Time
	logger hclog.Logger

	mu       sync.Mutex
	streaks  map[string]*Streak
	store    StoreStreak  // notifications that could not be stored
	last     outbox.Stats // the last counts read, kept when a read fails
	statsErr string       // the last read's error, logged when it changes
}

// StoreStreak is the run of notifications that could not be written to
// the outbox since the last write that succeeded: a full or failing disk.
// Failures is 0 while storing works.
type StoreStreak struct {
	Failures  int
	Since     time.Time // the first failure
	LastAt    time.Time // the last failure
	LastError string
}

// Streak is one transport's run of failed attempts since its last
// success.
type Streak struct {
	Failures  int
	Since     time.Time // the first failure
	LastError string
}

var _ delivery.Observer = (*Watch)(nil)

// New returns a watch that forwards every event to next (nil:
// none), reads the outbox's counts with stats and the time with now.
func New(next delivery.Observer, stats func() (outbox.Stats, error), now func() time.Time, logger hclog.Logger) *Watch {
	if next == nil {
		next = delivery.NopObserver{}
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Watch{next: next, stats: stats, now: now, logger: logger, streaks: map[string]*Streak{}}
}

// Sent ends transport's streak, then forwards the event.
func (w *Watch) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	w.mu.Lock()
	delete(w.streaks, transport)
	w.mu.Unlock()
	w.next.Sent(e, transport, receipt, latency)
}

// Retried counts a failure of transport, then forwards the event.
func (w *Watch) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	w.Failed(transport, err)
	w.next.Retried(e, transport, err, next)
}

// FellBack counts a failure of the transport the entry leaves, then
// forwards the event.
func (w *Watch) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	w.Failed(from, err)
	w.next.FellBack(e, from, to, err)
}

// DeadLettered counts a failure of the last transport the entry tried
// (none when its chain had no transport), then forwards the event.
func (w *Watch) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	if e != nil && e.Last != nil {
		w.Failed(e.Last.Transport, err)
	}
	w.next.DeadLettered(e, err)
}

// Failed adds a failed attempt to transport's streak, starting one if
// the transport had none. A transport the dispatcher does not know (a
// reload removed it) is not failing but gone: its streak ends. A message
// that could not be built never reached the transport: no attempt.
func (w *Watch) Failed(transport string, err *sdk.DeliveryError) {
	if transport == "" {
		return
	}
	msg := "failed"
	if err != nil {
		msg = truncateError(strings.ToValidUTF8(err.Error(), "\uFFFD"), maxStreakError)
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && errors.Is(err, delivery.ErrUnknownTransport) {
		delete(w.streaks, transport)
		return
	}
	if err != nil && errors.Is(err, delivery.ErrBuild) {
		return // the entry's fault: the transport was not tried
	}
	s := w.streaks[transport]
	if s == nil {
		s = &Streak{Since: now}
		w.streaks[transport] = s
	}
	s.Failures++
	s.LastError = msg
}

// StoreFailed adds n notifications that could not be stored, with err,
// to the store streak; it reports whether the streak starts with them.
func (w *Watch) StoreFailed(n int, err error) bool {
	now := w.now()
	msg := "failed"
	if err != nil {
		msg = truncateError(strings.ToValidUTF8(err.Error(), "\uFFFD"), maxStreakError)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	first := w.store.Failures == 0
	if first {
		w.store.Since = now
	}
	w.store.Failures += max(n, 1)
	w.store.LastAt, w.store.LastError = now, msg
	return first
}

// StoreOK ends the store streak: a write succeeded. It returns the streak
// that ended, if there was one.
func (w *Watch) StoreOK() (StoreStreak, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.store
	w.store = StoreStreak{}
	return s, s.Failures > 0
}

// StoreFailing returns the current store streak, if there is one.
func (w *Watch) StoreFailing() (StoreStreak, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.store, w.store.Failures > 0
}

// Retain forgets the streaks of transports not among names: after a
// reload removes a transport, nothing resets its streak any more.
func (w *Watch) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for name := range w.streaks {
		if !keep[name] {
			delete(w.streaks, name)
		}
	}
}

// Fact returns what the variable outbox holds now. When the outbox
// cannot be counted it keeps the last counts, and logs the error once.
func (w *Watch) Fact() rules.OutboxFact {
	var (
		st  outbox.Stats
		err error
	)
	if w.stats != nil {
		st, err = w.stats()
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil:
		if msg := err.Error(); msg != w.statsErr {
			w.logger.Warn("cannot count the outbox; rules read its last counts", "error", err)
			w.statsErr = msg
		}
		st = w.last
	default:
		if w.statsErr != "" {
			w.logger.Info("the outbox can be counted again")
			w.statsErr = ""
		}
		w.last = st
	}
	f := rules.OutboxFact{Pending: st.Pending, Dead: st.Dead}
	if st.Pending > 0 && !st.OldestPending.IsZero() {
		f.OldestAge = now.Sub(st.OldestPending)
	}
	if w.store.Failures > 0 {
		f.StoreFailures, f.StoreFailingFor, f.StoreError = w.store.Failures, now.Sub(w.store.Since), w.store.LastError
	}
	if len(w.streaks) > 0 {
		f.Failing = make(map[string]rules.TransportStreak, len(w.streaks))
		for name, s := range w.streaks {
			f.Failing[name] = rules.TransportStreak{Failures: s.Failures, FailingFor: now.Sub(s.Since), LastError: s.LastError}
		}
	}
	return f
}

// Failing returns a copy of the current streaks, by transport.
func (w *Watch) Failing() map[string]Streak {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]Streak, len(w.streaks))
	for name, s := range w.streaks {
		out[name] = *s
	}
	return out
}

// truncateError cuts s to at most n bytes on a rune boundary, marking the cut
// with an ellipsis.
func truncateError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Ended ends transport's streak: it started again after failing to.
func (w *Watch) Ended(transport string) {
	w.mu.Lock()
	delete(w.streaks, transport)
	w.mu.Unlock()
}
