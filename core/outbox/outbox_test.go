package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOutbox_RoundTrip(t *testing.T) {
	o, path, _ := openTest(t)
	want := fullEntry("a1b2c3@tocsin.example")
	mustEnqueue(t, o, want)
	check := func(o *Outbox) {
		t.Helper()
		got, err := o.Get(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Get =\n%+v\nwant\n%+v", got, want)
		}
		if !slices.Equal(got.Mail.Attachments[1].Data, want.Mail.Attachments[1].Data) {
			t.Fatal("attachment bytes differ")
		}
	}
	check(o)
	check(reopen(t, o))

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestOpen_CreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "deeper", "outbox.db")
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	if o.Path() != path {
		t.Errorf("Path = %q", o.Path())
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open(\"\"): want an error")
	}
	if _, err := Open(t.TempDir(), Options{}); err == nil {
		t.Error("Open of a directory: want an error")
	}
}

func TestOutbox_EnqueueDefaultsAndIdempotence(t *testing.T) {
	o, _, c := openTest(t)
	e := newEntry("one@x")
	mustEnqueue(t, o, e)
	if e.State != Pending || !e.EnqueuedAt.Equal(t0) || !e.NextAttempt.Equal(t0) {
		t.Fatalf("defaults not set: state %q enqueued %v next %v", e.State, e.EnqueuedAt, e.NextAttempt)
	}
	// A later enqueue of the same ID (a rule re-enqueueing after a crash)
	// leaves the stored entry as it was, also within one call.
	c.Set(t0.Add(time.Hour))
	again := newEntry("one@x")
	again.Mail.Subject = "changed"
	twice := newEntry("two@x")
	twiceAgain := newEntry("two@x")
	twiceAgain.Mail.Subject = "second copy"
	mustEnqueue(t, o, again, twice, twiceAgain)
	got, err := o.Get("one@x")
	if err != nil {
		t.Fatal(err)
	}
	if got.Mail.Subject != e.Mail.Subject || !got.EnqueuedAt.Equal(t0) {
		t.Errorf("re-enqueue changed the entry: %q %v", got.Mail.Subject, got.EnqueuedAt)
	}
	if got, _ := o.Get("two@x"); got.Mail.Subject == "second copy" {
		t.Error("the second copy in one call won")
	}
	if st, _ := o.Stats(); st.Pending != 2 {
		t.Errorf("Stats.Pending = %d, want 2", st.Pending)
	}
	if d, s, ok := indexCounts(t, o); d != 2 || s != 2 || !ok {
		t.Errorf("indexes: due %d, states %d, consistent %v", d, s, ok)
	}
	// Times the caller set are kept.
	later := newEntry("later@x")
	later.NextAttempt = t0.Add(2 * time.Hour)
	later.EnqueuedAt = t0.Add(-time.Minute)
	mustEnqueue(t, o, later)
	if got, _ := o.Get("later@x"); !got.NextAttempt.Equal(t0.Add(2*time.Hour)) || !got.EnqueuedAt.Equal(t0.Add(-time.Minute)) {
		t.Errorf("caller's times not kept: %v %v", got.NextAttempt, got.EnqueuedAt)
	}
}

func TestOutbox_EnqueueRefusesBadEntries(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *Entry) *Entry
		want   string
	}{
		{"nil", func(*Entry) *Entry { return nil }, "nil entry"},
		{"no ID", func(e *Entry) *Entry { e.ID = ""; return e }, "without ID"},
		{"long ID", func(e *Entry) *Entry { e.ID = strings.Repeat("x", 999); return e }, "999 bytes"},
		{"dead", func(e *Entry) *Entry { e.State = Dead; return e }, `state "dead"`},
		{"unknown state", func(e *Entry) *Entry { e.State = "sent"; return e }, `state "sent"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _ := openTest(t)
			good := newEntry("good@x")
			err := o.Enqueue(context.Background(), good, tt.mutate(newEntry("bad@x")))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Enqueue = %v, want %q", err, tt.want)
			}
			// All or nothing: the good entry of the call is not stored.
			if _, err := o.Get("good@x"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("good entry of a refused call: %v", err)
			}
		})
	}
}

func TestOutbox_Due(t *testing.T) {
	o, _, c := openTest(t)
	// Due at t0-3m, t0-2m (two, tie broken by ID), t0-1m, t0; later at
	// t0+1m and t0+5m; one dead entry that is never due.
	at := map[string]time.Duration{
		"d@x": -3 * time.Minute, "b@x": -2 * time.Minute, "a@x": -2 * time.Minute,
		"c@x": -time.Minute, "e@x": 0, "f@x": time.Minute, "g@x": 5 * time.Minute,
	}
	for id, d := range at {
		e := newEntry(id)
		e.NextAttempt = t0.Add(d)
		mustEnqueue(t, o, e)
	}
	dead := newEntry("dead@x")
	dead.NextAttempt = t0.Add(-time.Hour)
	mustEnqueue(t, o, dead)
	dead.State = Dead
	if err := o.Save(context.Background(), dead); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
		next  time.Time
	}{
		{"all due, no limit", t0, 0, []string{"d@x", "a@x", "b@x", "c@x", "e@x"}, t0.Add(time.Minute)},
		{"limit", t0, 2, []string{"d@x", "a@x"}, t0.Add(-2 * time.Minute)},
		{"limit equals due", t0, 5, []string{"d@x", "a@x", "b@x", "c@x", "e@x"}, t0.Add(time.Minute)},
		{"nothing due", t0.Add(-time.Hour), 10, nil, t0.Add(-3 * time.Minute)},
		{"everything due", t0.Add(time.Hour), 100, []string{"d@x", "a@x", "b@x", "c@x", "e@x", "f@x", "g@x"}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Set(tt.now)
			got, next, err := o.Due(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("Due = %v, want %v", ids(got), tt.want)
			}
			if !next.Equal(tt.next) {
				t.Errorf("next = %v, want %v", next, tt.next)
			}
		})
	}
}

func TestOutbox_DueEmpty(t *testing.T) {
	o, _, _ := openTest(t)
	got, next, err := o.Due(10)
	if err != nil || len(got) != 0 || !next.IsZero() {
		t.Fatalf("Due on an empty outbox = %v, %v, %v", got, next, err)
	}
}

func TestOutbox_SaveKeepsIndexesRight(t *testing.T) {
	o, _, c := openTest(t)
	ctx := context.Background()
	const n = 60
	var all []*Entry
	for i := 0; i < n; i++ {
		all = append(all, newEntry(fmt.Sprintf("e%02d@x", i)))
	}
	mustEnqueue(t, o, all...)
	// Many rounds of attempts: each round saves every entry with a new
	// NextAttempt, some become dead, some dead ones are retried.
	for round := 1; round <= 25; round++ {
		for i, e := range all {
			e.Attempts++
			e.TotalAttempts++
			e.NextAttempt = t0.Add(time.Duration((i*7+round*13)%50) * time.Second)
			e.Last = &Attempt{At: t0, Transport: e.Transport(), Kind: "temporary", Error: "busy"}
			if (i+round)%9 == 0 {
				e.State = Dead
			} else {
				e.State = Pending
			}
		}
		if err := o.Save(ctx, all...); err != nil {
			t.Fatal(err)
		}
		if round%5 == 0 {
			if err := o.Retry(ctx, all[round].ID); err != nil {
				t.Fatal(err)
			}
			all[round], _ = o.Get(all[round].ID)
		}
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	due, states, ok := indexCounts(t, o)
	if due != st.Pending || states != n || st.Pending+st.Dead != n || !ok {
		t.Fatalf("due index %d keys, states index %d, stats %+v, consistent %v", due, states, st, ok)
	}
	// Due sees every pending entry once, in NextAttempt order.
	c.Set(t0.Add(time.Hour))
	got, _, err := o.Due(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != st.Pending {
		t.Fatalf("Due returned %d, %d pending", len(got), st.Pending)
	}
	for i := 1; i < len(got); i++ {
		if got[i].NextAttempt.Before(got[i-1].NextAttempt) {
			t.Fatalf("Due out of order at %d", i)
		}
	}
	// What was saved is what is stored.
	for _, e := range all {
		stored, err := o.Get(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored, e) {
			t.Fatalf("stored %+v\nsaved %+v", stored, e)
		}
	}
}

func TestOutbox_SaveSkipsRemovedEntries(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	a, b := newEntry("a@x"), newEntry("b@x")
	mustEnqueue(t, o, a, b)
	if err := o.Drop(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
	a.Attempts, b.Attempts = 1, 1
	if err := o.Save(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get("a@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Save brought a dropped entry back: %v", err)
	}
	if got, _ := o.Get("b@x"); got.Attempts != 1 {
		t.Fatalf("b not saved: %+v", got)
	}
	if err := o.Save(ctx, &Entry{ID: "c@x", State: "odd"}); err == nil {
		t.Fatal("Save of an invalid state: want an error")
	}
}

func TestOutbox_DoneAndDrop(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	for _, id := range []string{"a@x", "b@x", "c@x", "d@x"} {
		mustEnqueue(t, o, newEntry(id))
	}
	d, _ := o.Get("d@x")
	d.State = Dead
	if err := o.Save(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ctx, "a@x", "b@x", "never@x"); err != nil {
		t.Fatal(err)
	}
	if err := o.Drop(ctx, "d@x"); err != nil {
		t.Fatal(err)
	}
	if err := o.Drop(ctx, "d@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Drop = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"a@x", "b@x", "d@x"} {
		if _, err := o.Get(id); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), id) {
			t.Errorf("Get(%s) = %v", id, err)
		}
	}
	if due, states, ok := indexCounts(t, o); due != 1 || states != 1 || !ok {
		t.Fatalf("indexes after Done/Drop: due %d states %d consistent %v", due, states, ok)
	}
	if err := o.Done(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOutbox_ListRetryStats(t *testing.T) {
	o, _, c := openTest(t)
	ctx := context.Background()
	for i, id := range []string{"c@x", "a@x", "b@x", "d@x"} {
		e := newEntry(id)
		e.EnqueuedAt = t0.Add(time.Duration(i) * time.Minute)
		mustEnqueue(t, o, e)
	}
	for _, id := range []string{"c@x", "b@x"} {
		e, _ := o.Get(id)
		e.State, e.Hop, e.Attempts, e.TotalAttempts = Dead, 1, 4, 9
		e.HopSince = t0 // Retry gives the first hop its whole max_age again
		e.Last = &Attempt{At: t0, Transport: "smtp-backup", Kind: "permanent", Code: "535", Remedy: "check the password", Error: "auth failed"}
		if err := o.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		state State
		want  []string
	}{
		{"", []string{"c@x", "a@x", "b@x", "d@x"}},
		{Pending, []string{"a@x", "d@x"}},
		{Dead, []string{"c@x", "b@x"}},
	}
	for _, tt := range tests {
		got, err := o.List(tt.state)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.state, ids(got), tt.want)
		}
	}
	if _, err := o.List("sent"); err == nil {
		t.Error("List(sent): want an error")
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 2 || st.Dead != 2 || !st.OldestPending.Equal(t0.Add(time.Minute)) {
		t.Errorf("Stats = %+v", st)
	}

	c.Set(t0.Add(time.Hour))
	if err := o.Retry(ctx, "c@x"); err != nil {
		t.Fatal(err)
	}
	got, _ := o.Get("c@x")
	if got.State != Pending || got.Hop != 0 || got.Attempts != 0 || !got.HopSince.IsZero() ||
		!got.NextAttempt.Equal(t0.Add(time.Hour)) || got.TotalAttempts != 9 || got.Last == nil || got.Last.Code != "535" {
		t.Errorf("after Retry: %+v", got)
	}
	if st, _ := o.Stats(); st.Pending != 3 || st.Dead != 1 || !st.OldestPending.Equal(t0) {
		t.Errorf("Stats after Retry = %+v", st)
	}
	if err := o.Retry(ctx, "nope@x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Retry(unknown) = %v", err)
	}
	if due, states, ok := indexCounts(t, o); due != 3 || states != 4 || !ok {
		t.Errorf("indexes: due %d states %d consistent %v", due, states, ok)
	}
	if st, _ := o.Stats(); st != (Stats{Pending: 3, Dead: 1, OldestPending: st.OldestPending}) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestOutbox_StatsEmpty(t *testing.T) {
	o, _, _ := openTest(t)
	st, err := o.Stats()
	if err != nil || st != (Stats{}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
}

func TestOutbox_Reopen(t *testing.T) {
	o, _, _ := openTest(t)
	const n = 500
	for i := 0; i < n; i += 50 {
		var batch []*Entry
		for j := i; j < i+50; j++ {
			batch = append(batch, newEntry(fmt.Sprintf("m%03d@x", j)))
		}
		mustEnqueue(t, o, batch...)
	}
	o2 := reopen(t, o)
	all, err := o2.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("after reopen: %d entries, want %d", len(all), n)
	}
	for i, e := range all {
		if want := fmt.Sprintf("m%03d@x", i); e.ID != want {
			t.Fatalf("entry %d is %s, want %s", i, e.ID, want)
		}
	}
}

func TestOutbox_ContextAndClose(t *testing.T) {
	o, _, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Enqueue(ctx, newEntry("x@x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with a canceled context = %v", err)
	}
	if _, err := o.Get("x@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("canceled Enqueue stored the entry: %v", err)
	}
	mustEnqueue(t, o, newEntry("y@x"))
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	bg := context.Background()
	saved := newEntry("y@x")
	saved.State = Pending
	for name, err := range map[string]error{
		"Enqueue": o.Enqueue(bg, newEntry("z@x")),
		"Done":    o.Done(bg, "y@x"),
		"Drop":    o.Drop(bg, "y@x"),
		"Retry":   o.Retry(bg, "y@x"),
		"Save":    o.Save(bg, saved),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, _, err := o.Due(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Due after Close = %v", err)
	}
}

func TestOutbox_GroupCommit(t *testing.T) {
	// Writers that arrive while a transaction is being synced share the
	// next one; one failing writer does not fail the others.
	o, _, _ := openTest(t)
	ctx := context.Background()
	const n = 64
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			<-start
			if i%16 == 0 {
				errs <- o.Drop(ctx, "missing@x") // fails inside the transaction
				return
			}
			errs <- o.Enqueue(ctx, newEntry(fmt.Sprintf("g%02d@x", i)))
		}()
	}
	before := o.commits.Load()
	close(start)
	notFound := 0
	for i := 0; i < n; i++ {
		err := <-errs
		switch {
		case errors.Is(err, ErrNotFound):
			notFound++
		case err != nil:
			t.Fatal(err)
		}
	}
	if notFound != 4 {
		t.Fatalf("%d Drops failed, want 4", notFound)
	}
	commits := o.commits.Load() - before
	if st, _ := o.Stats(); st.Pending != n-4 {
		t.Fatalf("%d pending, want %d", st.Pending, n-4)
	}
	t.Logf("%d enqueues in %d commits", n-4, commits)
	if commits >= n-4 {
		t.Errorf("%d commits for %d concurrent enqueues: no grouping", commits, n-4)
	}
}

// TestOutbox_SaveDoesNotUndoRetry: the dispatcher's Save of a copy it took
// before an operator's Retry leaves the retry in place.
func TestOutbox_SaveDoesNotUndoRetry(t *testing.T) {
	o, _, clk := openTest(t)
	ctx := context.Background()
	mustEnqueue(t, o, newEntry("a@x"))
	inFlight, err := o.Get("a@x") // the dispatcher's copy
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(time.Minute))
	if err := o.Retry(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
	inFlight.Hop, inFlight.Attempts, inFlight.State = 1, 3, Dead
	if err := o.Save(ctx, inFlight); err != nil {
		t.Fatal(err)
	}
	got, err := o.Get("a@x")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Pending || got.Hop != 0 || got.Attempts != 0 || got.RetriedAt.IsZero() {
		t.Errorf("after a stale Save: %+v; want the operator's retry (pending, hop 0)", got)
	}
	// A copy taken after the retry saves as usual.
	got.Attempts = 1
	if err := o.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := o.Get("a@x"); again.Attempts != 1 {
		t.Errorf("Save of a fresh copy was skipped: %+v", again)
	}
}
