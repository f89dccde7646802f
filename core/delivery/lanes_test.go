package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// countingQueue counts the Due calls made of its Queue.
type countingQueue struct {
	Queue
	dues atomic.Int64
}

func (c *countingQueue) Due(limit int) ([]*outbox.Entry, time.Time, error) {
	c.dues.Add(1)
	return c.Queue.Due(limit)
}

// plainQueue is a Queue without Get.
type plainQueue struct{ Queue }

// laneLen returns the number of entries queued in t's lane.
func laneLen(d *Dispatcher, t string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.lanes[t]; l != nil {
		return len(l.queue)
	}
	return 0
}

// TestDispatcher_Run_cancelledContext: Run on a context that has already
// ended returns at once without reading the outbox.
func TestDispatcher_Run_cancelledContext(t *testing.T) {
	clk := newClock()
	q := &countingQueue{Queue: newQueue(clk.Now, entry("a@tocsin.test", "smtp"))}
	ft := newTransports().add("smtp", true, nil)
	d := New(q, ft, fixed, nil, nil, WithClock(clk.Now))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := q.dues.Load(); n != 0 {
		t.Errorf("%d reads of the outbox after the context ended, want none", n)
	}
	if n := len(ft.callsTo("smtp")); n != 0 {
		t.Errorf("%d Sends after the context ended, want none", n)
	}
}

// TestDispatcher_Run_readsOnWithoutKick: when a round claims a whole read
// of due entries, the next read follows at once, without a Kick: a hung
// transport's backlog at the head of the outbox does not hold back the
// entries of another transport behind it.
func TestDispatcher_Run_readsOnWithoutKick(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, append(entries("h", 3, "hang"), entry("z@tocsin.test", "fast"))...)
	release := make(chan struct{})
	ft := newTransports().add("hang", false, blocking(release)).add("fast", false, nil)
	p := fixed
	p.BatchSize, p.Concurrency = 1, 2 // two entries per read
	d := start(t, q, ft, p, nil, WithClock(clk.Now))
	t.Cleanup(func() { close(release) })
	eventually(t, "z to be sent while hang hangs", func() bool { return q.get("z@tocsin.test") == nil })
	if n := len(ft.callsTo("hang")); n != 1 {
		t.Errorf("%d Sends through hang, want 1", n)
	}
	_ = d
}

// TestDispatcher_Run_fullLane: a transport whose Send hangs has two
// batches queued behind it, no more; while its lane is full, the
// dispatcher reads the outbox once per Kick, not in a busy loop over its
// backlog.
func TestDispatcher_Run_fullLane(t *testing.T) {
	clk := newClock()
	// A backlog that takes the reads many rounds to get past.
	q := &countingQueue{Queue: newQueue(clk.Now, entries("h", 1000, "hang")...)}
	release := make(chan struct{})
	ft := newTransports().add("hang", true, blocking(release))
	p := fixed
	p.BatchSize, p.Concurrency = 2, 1
	d := start(t, q, ft, p, nil, WithClock(clk.Now))
	t.Cleanup(func() { close(release) })
	eventually(t, "the first batch to hang", func() bool { return len(ft.callsTo("hang")) == 1 })
	// Kick until the lane is as full as it gets.
	last := -1
	for range 20 {
		round(t, d.Dispatcher)
		n := laneLen(d.Dispatcher, "hang")
		if n == last {
			break
		}
		last = n
	}
	// A batch for each Send the transport may have in flight, and one more.
	if n := laneLen(d.Dispatcher, "hang"); n != 3*p.BatchSize {
		t.Errorf("%d entries queued behind the hung Send, want three batches of %d", n, p.BatchSize)
	}

	begun, dues := d.roundsBegun.Load(), q.dues.Load()
	const kicks = 3
	for range kicks {
		round(t, d.Dispatcher)
	}
	// One more for a Kick still pending from the filling.
	if n := d.roundsBegun.Load() - begun; n > kicks+1 {
		t.Errorf("%d rounds for %d Kicks, want one each", n, kicks)
	}
	if n := q.dues.Load() - dues; n > kicks+1 {
		t.Errorf("%d reads of the outbox for %d Kicks, want one each", n, kicks)
	}
}

// TestDispatcher_Run_backlogDoesNotStarve: due entries its transport
// cannot take now (its lane is full, or its Rate lets none go) do not keep
// the outbox's later entries of other transports from being read and sent:
// each round reads past the entries the last one left.
func TestDispatcher_Run_backlogDoesNotStarve(t *testing.T) {
	hang, rated := entries("h", 30, "hang"), entries("r", 22, "rated")
	tests := []struct {
		name string
		// first fill hang's lane (a batch of 4 in flight, two queued: 12
		// entries) and use up rated's Rate; then come behind them.
		first, then []*outbox.Entry
	}{
		{name: "a full lane", first: hang[:12], then: hang[12:]},
		{name: "a throttled transport", first: append(hang[:12:12], rated[:2]...), then: rated[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, tt.first...)
			release := make(chan struct{})
			ft := newTransports().
				add("hang", true, blocking(release)).
				add("rated", false, nil).limit("rated", Rate{Messages: 1, Per: time.Hour}).
				add("fast", false, nil)
			p := fixed
			p.BatchSize, p.Concurrency = 4, 2
			d := start(t, q, ft, p, nil, WithClock(clk.Now))
			t.Cleanup(func() { close(release) })
			eventually(t, "hang's lane to fill and rated's Rate to be used", func() bool {
				d.Kick()
				return len(ft.callsTo("hang")) == 1 && laneLen(d.Dispatcher, "hang") == 2*p.BatchSize &&
					(len(tt.first) == 12 || !d.Holds()["rated"].ThrottledUntil.IsZero())
			})

			for _, e := range tt.then {
				q.add(e)
			}
			q.add(entry("z@tocsin.test", "fast"))
			for range 40 {
				if q.get("z@tocsin.test") == nil {
					break
				}
				round(t, d.Dispatcher)
			}
			eventually(t, "z to be sent", func() bool { return q.get("z@tocsin.test") == nil })
			if n := len(ft.callsTo("hang")); n != 1 {
				t.Errorf("%d Sends through hang, want 1", n)
			}
		})
	}
}

// TestDispatcher_Run_pausedBacklog: entries deferred because their
// transport asked to wait (Retry-After) count as work done: the
// dispatcher reads on at once, so the entries of other transports behind
// them go without waiting for a Kick.
func TestDispatcher_Run_pausedBacklog(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "graph"))
	ft := newTransports().
		add("graph", false, fail(&sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: 5 * time.Minute, Err: errors.New("throttled")})).
		add("fast", false, nil)
	p := fixed
	p.BatchSize, p.Concurrency = 1, 1
	d := start(t, q, ft, p, nil, WithClock(clk.Now))
	eventually(t, "the 429", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
	settle(t, d.Dispatcher, ft)

	for _, e := range entries("g", 4, "graph") {
		q.add(e)
	}
	q.add(entry("z@tocsin.test", "fast"))
	d.Kick()
	eventually(t, "z to be sent", func() bool { return q.get("z@tocsin.test") == nil })
	for _, e := range entries("g", 4, "graph") {
		if got := q.get(e.ID); got.Attempts != 0 || !got.NextAttempt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("%s = %+v, want deferred to the end of the pause without an attempt", e.ID, got)
		}
	}
}

// TestDispatcher_Run_storeRetriedWithoutKick: a Save or Done that keeps
// failing is tried again every storeRetry on its own, until it works.
func TestDispatcher_Run_storeRetriedWithoutKick(t *testing.T) {
	t.Run("Save", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
		q.failSave = 4
		ft := newTransports().add("smtp", true, fail(sdk.TemporaryError(errors.New("busy"), "421", "")))
		start(t, q, ft, fixed, nil, WithClock(clk.Now), storeRetryEvery(time.Millisecond))
		eventually(t, "the Save to succeed", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
	})
	t.Run("Done", func(t *testing.T) {
		clk := newClock()
		q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
		q.failDone = 4
		ft := newTransports().add("smtp", true, nil)
		start(t, q, ft, fixed, nil, WithClock(clk.Now), storeRetryEvery(time.Millisecond))
		eventually(t, "the Done to succeed", func() bool { return q.doneCount("a@tocsin.test") == 1 })
		if n := len(ft.callsTo("smtp")); n != 1 {
			t.Errorf("%d Sends, want 1", n)
		}
	})
}

// TestDispatcher_Run_recoveryWithoutGet: with a Queue that cannot read one
// entry, a transport that accepts again leaves its waiting entries to
// their backoff.
func TestDispatcher_Run_recoveryWithoutGet(t *testing.T) {
	clk := newClock()
	fq := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
	var down atomic.Bool
	down.Store(true)
	ft := newTransports().add("smtp", false, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		if down.Load() {
			return nil, sdk.TemporaryError(errors.New("connection refused"), "", "")
		}
		return accept(ctx, msgs)
	})
	d := start(t, plainQueue{fq}, ft, fixed, nil, WithClock(clk.Now))
	eventually(t, "a's failure", func() bool { return fq.get("a@tocsin.test").Attempts == 1 })
	settle(t, d.Dispatcher, ft)

	down.Store(false)
	fq.add(entry("b@tocsin.test", "smtp"))
	d.Kick()
	eventually(t, "b to be sent", func() bool { return fq.get("b@tocsin.test") == nil })
	settle(t, d.Dispatcher, ft)
	round(t, d.Dispatcher)
	if e := fq.get("a@tocsin.test"); !e.NextAttempt.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("a due at %v, want its backoff's t0+10s", e.NextAttempt.Sub(t0))
	}
	clk.Advance(10 * time.Second)
	d.Kick()
	eventually(t, "a to be sent at its retry", func() bool { return fq.get("a@tocsin.test") == nil })
}

// TestDispatcher_Run_recoveryNothingToHasten: when a transport accepts
// again, entries that waited on it but were dropped meanwhile, or are due
// anyway, are left alone, and the log says nothing was brought forward;
// only an entry still waiting is.
func TestDispatcher_Run_recoveryNothingToHasten(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile runs while b is being sent.
		meanwhile func(q *fakeQueue, clk *fakeClock)
		hastened  bool
	}{
		{name: "dropped", meanwhile: func(q *fakeQueue, _ *fakeClock) {
			q.mu.Lock()
			delete(q.entries, "a@tocsin.test")
			q.mu.Unlock()
		}},
		{name: "due anyway", meanwhile: func(_ *fakeQueue, clk *fakeClock) { clk.Advance(10 * time.Second) }},
		{name: "waiting", meanwhile: func(*fakeQueue, *fakeClock) {}, hastened: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
			var down atomic.Bool
			down.Store(true)
			ft := newTransports().add("smtp", false, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				if down.Load() {
					return nil, sdk.TemporaryError(errors.New("connection refused"), "", "")
				}
				if msgs[0].ID == "b@tocsin.test" {
					tt.meanwhile(q, clk)
				}
				return accept(ctx, msgs)
			})
			var buf syncBuffer
			logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})
			d := New(q, ft, fixed, nil, logger, WithClock(clk.Now))
			go func() { _ = d.Run(context.Background()) }()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = d.Stop(ctx)
			})
			eventually(t, "a's failure", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
			settle(t, d, ft)

			down.Store(false)
			q.add(entry("b@tocsin.test", "smtp"))
			d.Kick()
			eventually(t, "b to be sent", func() bool { return q.get("b@tocsin.test") == nil })
			if tt.name != "dropped" {
				eventually(t, "a to be sent", func() bool { return q.get("a@tocsin.test") == nil })
			}
			settle(t, d, ft)
			round(t, d)
			said := strings.Contains(buf.String(), "transport accepts again")
			if said != tt.hastened {
				t.Errorf("log says an entry was brought forward: %v, want %v:\n%s", said, tt.hastened, buf.String())
			}
			q.check(t)
		})
	}
}

// TestDispatcher_Stop_noNewSends: once Stop is called, no Send starts,
// even for a lane with an entry queued whose Send in flight returns and
// frees a slot: that entry stays in the outbox untouched.
func TestDispatcher_Stop_noNewSends(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	ft := newTransports()
	var names []string
	var all []*outbox.Entry
	for i := range 8 {
		name := fmt.Sprintf("t%d", i)
		names = append(names, name)
		ft.add(name, false, blocking(release))
		all = append(all, entries(name, 2, name)...)
	}
	q := newQueue(clk.Now, all...)
	p := fixed
	p.Concurrency = len(names)
	p.SendsPerTransport = 1 // one Send in flight and one entry queued per lane
	d := New(q, ft, p, nil, nil, WithClock(clk.Now))
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "a Send in flight and an entry queued on every transport", func() bool {
		for _, name := range names {
			if len(ft.callsTo(name)) != 1 || laneLen(d, name) != 1 {
				return false
			}
		}
		return true
	})

	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop(context.Background()) }()
	eventually(t, "Stop to begin", d.isStopping)
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	<-ran
	for _, name := range names {
		if n := len(ft.callsTo(name)); n != 1 {
			t.Errorf("%d Sends through %s, want the one in flight at Stop", n, name)
		}
		if e := q.get(name + "-001@tocsin.test"); e == nil || e.Attempts != 0 {
			t.Errorf("%s's queued entry = %+v, want untouched", name, e)
		}
	}
	q.check(t)
}

// TestDispatcher_Stop_returnsAfterRun: when Stop's deadline passes with a
// Send that ignores its cancellation, the dispatcher abandons the Send
// soon enough that Run has returned when Stop does.
func TestDispatcher_Stop_returnsAfterRun(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	defer close(release)
	q := newQueue(clk.Now, entry("a@tocsin.test", "hang"))
	ft := newTransports().add("hang", true, hanging(release))
	d := New(q, ft, fixed, nil, nil, WithClock(clk.Now), WithAfter(clk.After))
	go func() { _ = d.Run(context.Background()) }()
	eventually(t, "the send to hang", func() bool { return len(ft.callsTo("hang")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	select {
	case <-d.done:
	default:
		t.Error("Stop returned before Run")
	}
}

// TestDispatcher_Run_sendDeadlineAnswered: a plugin that answers when its
// send_timeout cuts it off fails the attempt with the send_timeout error
// and remedy; one that answers then that it sent the messages has them
// counted as sent.
func TestDispatcher_Run_sendDeadlineAnswered(t *testing.T) {
	tests := []struct {
		name   string
		answer sendFunc
		sent   bool
	}{
		{name: "with the cancellation", answer: func(ctx context.Context, _ []*sdk.Message) ([]sdk.Result, error) { return nil, ctx.Err() }},
		{name: "with success", answer: accept, sent: true},
	}
	// gRPC reports DeadlineExceeded as soon as the deadline has passed by
	// the wall clock, which can be before the context's timer has fired.
	early := func(ctx context.Context, _ []*sdk.Message) ([]sdk.Result, error) {
		dl, _ := ctx.Deadline()
		for time.Now().Before(dl) {
			time.Sleep(time.Until(dl) / 2)
		}
		return nil, errors.New("rpc error: code = DeadlineExceeded desc = stream terminated by RST_STREAM with error code: CANCEL")
	}
	for range 20 {
		tests = append(tests, struct {
			name   string
			answer sendFunc
			sent   bool
		}{name: "with an error of its own, at the deadline", answer: early})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("a@tocsin.test", "slow"))
			ft := newTransports().add("slow", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
				if tt.sent || tt.name == "with the cancellation" {
					<-ctx.Done()
				}
				return tt.answer(ctx, msgs)
			})
			// The Send's context ends after 1ms; the dispatcher's own
			// timer, on the fake clock, never fires: the answer comes
			// first.
			ft.timeouts["slow"] = time.Millisecond
			rec := &recorder{}
			d := start(t, q, ft, fixed, rec, WithClock(clk.Now), WithAfter(clk.After))
			eventually(t, "the outcome", func() bool { return rec.count("sent")+rec.count("retried") == 1 })
			idle(t, d.Dispatcher)
			if tt.sent {
				if q.get("a@tocsin.test") != nil || rec.count("sent") != 1 {
					t.Errorf("events %+v, want a sent", rec.all())
				}
				return
			}
			e := q.get("a@tocsin.test")
			if e.Last == nil || e.Last.Kind != "temporary" || !strings.Contains(e.Last.Error, "send_timeout 1ms") || !strings.Contains(e.Last.Remedy, "send_timeout") {
				t.Errorf("last attempt %+v, want a temporary failure naming send_timeout, with its remedy", e.Last)
			}
		})
	}
}

// TestDispatcher_Run_rateEdges: a Rate without a positive number of
// messages or a positive period is no limit: a batching transport sends
// its whole backlog in one batch.
func TestDispatcher_Run_rateEdges(t *testing.T) {
	for _, r := range []Rate{{Messages: 0, Per: time.Minute}, {Messages: 5, Per: 0}, {Messages: -1, Per: time.Minute}, {Messages: 5, Per: -time.Second}} {
		t.Run(fmt.Sprintf("%d per %v", r.Messages, r.Per), func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entries("s", 20, "smtp")...)
			ft := newTransports().add("smtp", true, nil).limit("smtp", r)
			d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
			eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
			settle(t, d.Dispatcher, ft)
			if calls := ft.callsTo("smtp"); len(calls) != 1 {
				t.Errorf("%d Sends of %v, want one of all 20", len(calls), calls)
			}
			if h := d.Holds(); len(h) != 0 {
				t.Errorf("holds %v, want none", h)
			}
		})
	}
}

// TestDispatcher_Run_rateFractionalWait: when the bucket holds part of a
// token, the next message may go when that part has grown to a whole one,
// not a whole period later.
func TestDispatcher_Run_rateFractionalWait(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "graph"))
	// One message every 10s, up to two at once.
	ft := newTransports().add("graph", true, nil).limit("graph", Rate{Messages: 2, Per: 20 * time.Second})
	d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
	eventually(t, "a to be sent", func() bool { return q.len() == 0 })
	settle(t, d.Dispatcher, ft)

	// 1.5 tokens after 5s: b goes, c waits for the half token left to
	// grow to one, 5s later.
	clk.Advance(5 * time.Second)
	q.add(entry("b@tocsin.test", "graph"))
	q.add(entry("c@tocsin.test", "graph"))
	d.Kick()
	want := t0.Add(10 * time.Second)
	eventually(t, "c to be throttled", func() bool { return d.Holds()["graph"].ThrottledUntil.Equal(want) })
	settle(t, d.Dispatcher, ft)
	if got := slices.Concat(ft.callsTo("graph")...); !slices.Equal(got, []string{"a@tocsin.test", "b@tocsin.test"}) {
		t.Errorf("sent %v, want a then b", got)
	}
	clk.Advance(5 * time.Second)
	d.Kick()
	eventually(t, "c to be sent at 10s", func() bool { return q.len() == 0 })
}

// budgeted returns transports with a batching "smtp" whose byte budget is
// budget, and the entries' size as planned and as built.
func budgeted(budget int) *fakeTransports {
	ft := newTransports().add("smtp", true, nil)
	ft.maxBytes["smtp"] = budget
	return ft
}

// builtSize is the size of the message ft builds for e on transport t.
func builtSize(t *testing.T, ft *fakeTransports, tr string, e *outbox.Entry) int {
	t.Helper()
	m, err := ft.build(tr, e)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.MessageSize(m)
}

// TestDispatcher_Run_batchBytesEdges: a batch fits its transport's byte
// budget when its size is exactly the budget, planned or as built, and a
// message exactly at the budget is sent; one byte more splits the batch
// or fails the message.
func TestDispatcher_Run_batchBytesEdges(t *testing.T) {
	mk := func() []*outbox.Entry {
		return []*outbox.Entry{
			withAttachment(entry("a@tocsin.test", "smtp"), 10<<10),
			withAttachment(entry("b@tocsin.test", "smtp"), 10<<10),
		}
	}
	planned := entrySize(mk()[0]) // both the same
	ft0 := budgeted(0)
	built := builtSize(t, ft0, "smtp", mk()[0])
	// A pad that makes the built message exactly its planned size.
	pad := -1
	for p := range 600 {
		ft0.pad["smtp"] = p
		if builtSize(t, ft0, "smtp", mk()[0]) == planned {
			pad = p
			break
		}
	}
	if pad < 0 {
		t.Fatal("no pad makes the built message its planned size")
	}
	tests := []struct {
		name   string
		budget int
		pad    int
		one    bool // a alone
		want   [][]string
		dead   bool
	}{
		{name: "planned at the budget", budget: 2 * planned, want: [][]string{{"a@tocsin.test", "b@tocsin.test"}}},
		{name: "planned a byte over", budget: 2*planned - 1, want: [][]string{{"a@tocsin.test"}, {"b@tocsin.test"}}},
		{name: "built at the budget", budget: 2 * planned, pad: pad, want: [][]string{{"a@tocsin.test", "b@tocsin.test"}}},
		{name: "built a byte over", budget: 2 * planned, pad: pad + 1, want: [][]string{{"a@tocsin.test"}, {"b@tocsin.test"}}},
		{name: "one message at the budget", budget: built, one: true, want: [][]string{{"a@tocsin.test"}}},
		{name: "one message a byte over", budget: built - 1, one: true, dead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			es := mk()
			if tt.one {
				es = es[:1]
			}
			q := newQueue(clk.Now, es...)
			ft := budgeted(tt.budget)
			ft.pad["smtp"] = tt.pad
			rec := &recorder{}
			d := start(t, q, ft, fixed, rec, WithClock(clk.Now))
			eventually(t, "the outbox to settle", func() bool {
				return rec.count("sent")+rec.count("dead") == len(es)
			})
			settle(t, d.Dispatcher, ft)
			if got := ft.callsTo("smtp"); !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("Sends %v, want %v", got, tt.want)
			}
			if tt.dead && rec.count("dead") != 1 {
				t.Errorf("events %+v, want a failed as too large", rec.all())
			}
			q.check(t)
		})
	}
}

// TestDispatcher_Run_batchBytesKeepsOrder: a byte budget splits a lane's
// queue into Sends in order, each a run of consecutive entries, earliest
// first; it does not reorder it. (Two Sends may be in flight at once, so
// the order in which the Sends reach the transport is not asked.)
func TestDispatcher_Run_batchBytesKeepsOrder(t *testing.T) {
	clk := newClock()
	var es []*outbox.Entry
	var want []string
	for i := range 6 {
		e := withAttachment(entry(fmt.Sprintf("e%d@tocsin.test", i), "smtp"), 10<<10)
		es = append(es, e)
		want = append(want, e.ID)
	}
	q := newQueue(clk.Now, es...)
	ft := budgeted(2*entrySize(es[0]) + 10) // two per Send
	p := fixed
	p.BatchSize = 4
	d := start(t, q, ft, p, nil, WithClock(clk.Now))
	eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
	settle(t, d.Dispatcher, ft)
	calls := ft.callsTo("smtp")
	slices.SortFunc(calls, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if got := slices.Concat(calls...); !slices.Equal(got, want) {
		t.Errorf("sent in the order %v, want %v", got, want)
	}
	for _, c := range calls {
		if len(c) != 2 {
			t.Errorf("Sends %v, want two messages each", calls)
			break
		}
	}
}

// TestDispatcher_Run_sendsPerTransport: a lane that holds several batches
// has SendsPerTransport of them in flight at once through its transport,
// never more, and one batch is one Send; every entry goes out once.
func TestDispatcher_Run_sendsPerTransport(t *testing.T) {
	tests := []struct {
		name              string
		batch             bool
		entries           int
		sendsPerTransport int // 0: the default
		want              int // Sends in flight at once
	}{
		{name: "the default: two batches at once", batch: true, entries: 10, want: 2},
		{name: "three at once", batch: true, entries: 10, sendsPerTransport: 3, want: 3},
		{name: "one at a time", batch: true, entries: 10, sendsPerTransport: 1, want: 1},
		{name: "one batch is one Send", batch: true, entries: 2, sendsPerTransport: 3, want: 1},
		{name: "a transport without batches: one at a time, for its Retry-After", batch: false, entries: 5, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			release := make(chan struct{})
			ft := newTransports().add("smtp", tt.batch, blocking(release))
			q := newQueue(clk.Now, entries("m", tt.entries, "smtp")...)
			p := fixed
			p.BatchSize = 2
			p.SendsPerTransport = tt.sendsPerTransport
			start(t, q, ft, p, nil, WithClock(clk.Now))
			eventually(t, fmt.Sprintf("%d Sends in flight", tt.want), func() bool { return ft.maxInflight() == tt.want })
			time.Sleep(20 * time.Millisecond) // give one more the chance to start
			if got := ft.maxInflight(); got != tt.want {
				t.Errorf("%d Sends in flight, want %d", got, tt.want)
			}
			close(release)
			eventually(t, "every entry to be sent", func() bool { return q.len() == 0 })
			if got := ft.maxInflight(); got != tt.want {
				t.Errorf("up to %d Sends in flight, want %d", got, tt.want)
			}
			size := 1
			if tt.batch {
				size = p.BatchSize
			}
			sent := 0
			for _, c := range ft.callsTo("smtp") {
				if len(c) > size {
					t.Errorf("a Send of %d messages, batches are %d", len(c), size)
				}
				sent += len(c)
			}
			if sent != tt.entries {
				t.Errorf("%d messages sent, want %d", sent, tt.entries)
			}
			q.check(t)
		})
	}
}

// TestDispatcher_workersFor: a lane of a transport that batches wants a
// worker per batch it holds, up to SendsPerTransport; one that does not,
// one.
func TestDispatcher_workersFor(t *testing.T) {
	d := New(newQueue(time.Now), newTransports(), Policy{BatchSize: 2, SendsPerTransport: 3}, nil, nil)
	for queued, want := range []int{0, 1, 1, 2, 2, 3, 3, 3} {
		if got := d.workersFor(queued, true); got != want {
			t.Errorf("workersFor(%d, batches) = %d, want %d", queued, got, want)
		}
		if got := d.workersFor(queued, false); got != 1 {
			t.Errorf("workersFor(%d, no batches) = %d, want 1", queued, got)
		}
	}
}

// TestDispatcher_Run_extraSendsLeaveASlot: a transport's second Send
// takes a slot only while another stays free, so that a hanging transport
// with a long lane cannot take every slot from the others.
func TestDispatcher_Run_extraSendsLeaveASlot(t *testing.T) {
	for _, concurrency := range []int{2, 3} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			clk := newClock()
			release := make(chan struct{})
			ft := newTransports().add("hang", true, blocking(release)).add("fast", true, nil)
			q := newQueue(clk.Now, append(entries("h", 20, "hang"), entries("f", 20, "fast")...)...)
			p := fixed
			p.BatchSize, p.Concurrency = 2, concurrency
			d := start(t, q, ft, p, nil, WithClock(clk.Now))
			eventually(t, "every fast entry to be sent while hang hangs", func() bool { return q.len() == 20 })
			time.Sleep(20 * time.Millisecond)
			if got := len(ft.callsTo("hang")); got < 1 || got > concurrency-1 {
				t.Errorf("%d Sends through hang, want 1 to %d: one slot stays for the other lane", got, concurrency-1)
			}
			close(release)
			eventually(t, "the hanging transport's entries to be sent", func() bool { return q.len() == 0 })
			// The workers that left counted themselves out: the lane
			// takes new work.
			settle(t, d.Dispatcher, ft)
			q.add(entry("late@tocsin.test", "hang"))
			d.Kick()
			eventually(t, "a later entry to be sent", func() bool { return q.len() == 0 })
			q.check(t)
		})
	}
}

// TestDispatcher_Stop_drainsEverySendOfALane: Stop waits for each Send in
// flight through a transport, and records each one's outcome.
func TestDispatcher_Stop_drainsEverySendOfALane(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	ft := newTransports().add("slow", true, blocking(release))
	q := newQueue(clk.Now, entry("a1@tocsin.test", "slow"), entry("a2@tocsin.test", "slow"))
	p := fixed
	p.BatchSize = 1 // two batches: two Sends
	d := New(q, ft, p, nil, nil, WithClock(clk.Now))
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	eventually(t, "both Sends in flight", func() bool { return len(ft.callsTo("slow")) == 2 })
	stopWhileSending(t, d, ran, release, "Sends in flight")
	for _, id := range []string{"a1@tocsin.test", "a2@tocsin.test"} {
		if q.get(id) != nil || q.doneCount(id) != 1 {
			t.Errorf("%s: the send in flight was not recorded as done", id)
		}
	}
}
