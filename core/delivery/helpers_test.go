package delivery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a clock tests move by hand, with timers that fire when it
// passes them.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

// After is time.After on the fake clock.
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.t.Add(d), c: ch})
	return ch
}

// waiting returns the number of timers not yet fired.
func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// next returns when the earliest timer not yet fired fires; zero if none.
func (c *fakeClock) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, tm := range c.timers {
		if at.IsZero() || tm.at.Before(at) {
			at = tm.at
		}
	}
	return at
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- c.t
	}
	c.timers = kept
	c.mu.Unlock()
}

// fakeQueue is an in-memory outbox with the real one's contract: Due
// returns copies, earliest first; Save needs the entry to exist; Done
// removes. It records anything a dispatcher must never do.
type fakeQueue struct {
	now func() time.Time

	mu        sync.Mutex
	entries   map[string]*outbox.Entry
	done      map[string]int // Done calls per ID
	doneCalls int
	violation []string
	// failDue, failSave and failDone fail the next so many calls.
	failDue, failSave, failDone int
	// failSaveIf fails a Save when it returns true (under mu).
	failSaveIf func() bool
	failDoneIf func() bool
}

func newQueue(now func() time.Time, entries ...*outbox.Entry) *fakeQueue {
	q := &fakeQueue{now: now, entries: map[string]*outbox.Entry{}, done: map[string]int{}}
	for _, e := range entries {
		q.entries[e.ID] = clone(e)
	}
	return q
}

func clone(e *outbox.Entry) *outbox.Entry {
	c := *e
	c.Via = slices.Clone(e.Via)
	if e.Last != nil {
		l := *e.Last
		c.Last = &l
	}
	return &c
}

func (q *fakeQueue) Due(limit int) ([]*outbox.Entry, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failDue > 0 {
		q.failDue--
		return nil, time.Time{}, errors.New("disk on fire")
	}
	now := q.now()
	var due []*outbox.Entry
	var next time.Time
	for _, e := range q.entries {
		if e.State != outbox.Pending {
			continue
		}
		if e.NextAttempt.After(now) {
			if next.IsZero() || e.NextAttempt.Before(next) {
				next = e.NextAttempt
			}
			continue
		}
		due = append(due, e)
	}
	slices.SortFunc(due, func(a, b *outbox.Entry) int {
		return cmp.Or(a.NextAttempt.Compare(b.NextAttempt), cmp.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(due) > limit {
		next = due[limit].NextAttempt
		due = due[:limit]
	}
	out := make([]*outbox.Entry, len(due))
	for i, e := range due {
		out[i] = clone(e)
	}
	return out, next, nil
}

func (q *fakeQueue) Save(_ context.Context, entries ...*outbox.Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failSave > 0 || (q.failSaveIf != nil && q.failSaveIf()) {
		q.failSave--
		return errors.New("disk full")
	}
	for _, e := range entries {
		if _, ok := q.entries[e.ID]; !ok {
			q.violation = append(q.violation, fmt.Sprintf("Save of %s, which is not in the outbox", e.ID))
			continue
		}
		q.entries[e.ID] = clone(e)
	}
	return nil
}

func (q *fakeQueue) Done(_ context.Context, ids ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failDone > 0 || (q.failDoneIf != nil && q.failDoneIf()) {
		q.failDone--
		return errors.New("disk full")
	}
	q.doneCalls++
	for _, id := range ids {
		q.done[id]++
		if q.done[id] > 1 {
			q.violation = append(q.violation, fmt.Sprintf("Done of %s %d times", id, q.done[id]))
		}
		delete(q.entries, id)
	}
	return nil
}

// add puts e in the outbox, as Enqueue does.
func (q *fakeQueue) add(e *outbox.Entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.entries[e.ID] = clone(e)
}

// Get is the outbox's Get: a copy, or an error when there is none.
func (q *fakeQueue) Get(id string) (*outbox.Entry, error) {
	if e := q.get(id); e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("entry %s: %w", id, outbox.ErrNotFound)
}

// get returns a copy of the entry with this ID, or nil.
func (q *fakeQueue) get(id string) *outbox.Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[id]
	if e == nil {
		return nil
	}
	return clone(e)
}

func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

func (q *fakeQueue) doneCount(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.done[id]
}

func (q *fakeQueue) check(t *testing.T) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, v := range q.violation {
		t.Error(v)
	}
}

// sendFunc is how a fake transport answers a Send.
type sendFunc func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error)

// fakeTransports serves transports by name, recording every Send.
type fakeTransports struct {
	mu       sync.Mutex
	send     map[string]sendFunc
	batch    map[string]bool
	rates    map[string]Rate
	maxBytes map[string]int
	timeouts map[string]time.Duration
	// pad makes the display name of the transport's sender so many bytes
	// long: its messages are larger than the dispatcher planned.
	pad map[string]int
	// badFrom is the error of From for a transport whose sender is
	// unusable.
	badFrom  map[string]error
	calls    []sendCall
	inflight int
	maxIn    int
}

type sendCall struct {
	transport string
	ids       []string
}

func newTransports() *fakeTransports {
	return &fakeTransports{send: map[string]sendFunc{}, batch: map[string]bool{}, rates: map[string]Rate{}, maxBytes: map[string]int{}, timeouts: map[string]time.Duration{}, pad: map[string]int{}, badFrom: map[string]error{}}
}

// add registers a transport; f nil accepts everything.
func (ft *fakeTransports) add(name string, batch bool, f sendFunc) *fakeTransports {
	if f == nil {
		f = accept
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.send[name] = f
	ft.batch[name] = batch
	return ft
}

func (ft *fakeTransports) From(transport string) (sdk.Address, error) {
	ft.mu.Lock()
	_, ok := ft.send[transport]
	pad, bad := ft.pad[transport], ft.badFrom[transport]
	ft.mu.Unlock()
	if !ok {
		return sdk.Address{}, fmt.Errorf("transport %q: %w", transport, ErrUnknownTransport)
	}
	if bad != nil {
		return sdk.Address{}, bad
	}
	return sdk.Address{Name: strings.Repeat("-", pad), Address: transport + "@tocsin.test"}, nil
}

// build is the message the dispatcher builds for e on transport.
func (ft *fakeTransports) build(transport string, e *outbox.Entry) (*sdk.Message, error) {
	from, err := ft.From(transport)
	if err != nil {
		return nil, err
	}
	return notify.Message(e, from), nil
}

func (ft *fakeTransports) Send(ctx context.Context, transport string, msgs []*sdk.Message) ([]sdk.Result, error) {
	ft.mu.Lock()
	f, ok := ft.send[transport]
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	ft.calls = append(ft.calls, sendCall{transport, ids})
	ft.inflight++
	ft.maxIn = max(ft.maxIn, ft.inflight)
	ft.mu.Unlock()
	defer func() {
		ft.mu.Lock()
		ft.inflight--
		ft.mu.Unlock()
	}()
	if !ok {
		return nil, fmt.Errorf("transport %q: %w", transport, ErrUnknownTransport)
	}
	return f(ctx, msgs)
}

func (ft *fakeTransports) Batch(transport string) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.batch[transport]
}

func (ft *fakeTransports) Rate(transport string) Rate {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.rates[transport]
}

func (ft *fakeTransports) MaxBatchBytes(transport string) int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.maxBytes[transport]
}

func (ft *fakeTransports) SendTimeout(transport string) time.Duration {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.timeouts[transport]
}

// limit gives transport a Rate.
func (ft *fakeTransports) limit(transport string, r Rate) *fakeTransports {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.rates[transport] = r
	return ft
}

// callsTo returns the Sends made through transport.
func (ft *fakeTransports) callsTo(transport string) [][]string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var out [][]string
	for _, c := range ft.calls {
		if c.transport == transport {
			out = append(out, c.ids)
		}
	}
	return out
}

func (ft *fakeTransports) maxInflight() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.maxIn
}

// accept accepts every message.
func accept(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 2.0.0 Ok: queued as " + m.ID}
	}
	return out, nil
}

// fail answers every message with err.
func fail(err error) sendFunc {
	return func(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Err: err}
		}
		return out, nil
	}
}

// event is what the recording observer saw.
type event struct {
	kind      string // sent, retried, fellback, dead
	id        string
	transport string // the transport tried (from, for fellback)
	to        string
	code      string
	receipt   string
	next      time.Time
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(ev event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Sent(e *outbox.Entry, transport, receipt string, _ time.Duration) {
	r.add(event{kind: "sent", id: e.ID, transport: transport, receipt: receipt})
}

func (r *recorder) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	r.add(event{kind: "retried", id: e.ID, transport: transport, code: err.Code, next: next})
}

func (r *recorder) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	r.add(event{kind: "fellback", id: e.ID, transport: from, to: to, code: err.Code})
}

func (r *recorder) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	r.add(event{kind: "dead", id: e.ID, code: err.Code})
}

func (r *recorder) all() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) count(kind string) int {
	n := 0
	for _, ev := range r.all() {
		if ev.kind == kind {
			n++
		}
	}
	return n
}

// entry returns a pending entry due at t0 through via.
func entry(id string, via ...string) *outbox.Entry {
	return &outbox.Entry{
		ID: id, Rule: "disk", Event: "firing", Contact: "ops", Via: via,
		Mail: outbox.Mail{
			To:      []sdk.Address{{Address: "ops@example.test"}},
			Subject: "disk full on " + id, Text: "/ is 99% full",
		},
		State: outbox.Pending, EnqueuedAt: t0, NextAttempt: t0,
	}
}

// entries returns n entries named prefix-000... through via.
func entries(prefix string, n int, via ...string) []*outbox.Entry {
	out := make([]*outbox.Entry, n)
	for i := range out {
		out[i] = entry(fmt.Sprintf("%s-%03d@tocsin.test", prefix, i), via...)
	}
	return out
}

// running is a Dispatcher under test and the result of its Run.
type running struct {
	*Dispatcher
	ran chan error
}

// start runs a dispatcher until the test ends.
func start(t *testing.T, q Queue, tr Transports, p Policy, o Observer, opts ...Option) *running {
	t.Helper()
	d := New(q, tr, p, o, hclog.NewNullLogger(), opts...)
	r := &running{Dispatcher: d, ran: make(chan error, 1)}
	go func() { r.ran <- d.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

// eventually fails the test unless cond becomes true within a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// settle waits until the dispatcher has nothing left to do at this time of
// the fake clock: every lane idle and no Send in flight.
func settle(t *testing.T, d *Dispatcher, ft *fakeTransports) {
	t.Helper()
	eventually(t, "the dispatcher to settle", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, l := range d.lanes {
			if l.workers > 0 {
				return false
			}
		}
		ft.mu.Lock()
		defer ft.mu.Unlock()
		return len(d.held) == 0 && ft.inflight == 0
	})
}

// goroutines waits for the number of goroutines to drop to at most n and
// returns the number.
func goroutines(n int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		g := runtime.NumGoroutine()
		if g <= n || time.Now().After(deadline) {
			return g
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// storeRetryEvery makes failed store calls retried after d.
func storeRetryEvery(d time.Duration) Option {
	return func(x *Dispatcher) { x.storeRetry = d }
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
