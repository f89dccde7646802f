package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// outboxEnqueuer hands off to a real outbox, as the Agent does; while
// failAfterCommit is set it stores the hand-off and then reports an error
// (as when the caller's context ends while the transaction commits).
type outboxEnqueuer struct {
	ob              *outbox.Outbox
	mu              sync.Mutex
	failAfterCommit bool
}

func (q *outboxEnqueuer) Enqueue(ctx context.Context, marks []outbox.Mark, entries []*outbox.Entry) error {
	if err := q.ob.EnqueueWithMarks(ctx, marks, entries...); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failAfterCommit {
		return errors.New("context deadline exceeded (after the commit)")
	}
	return nil
}

func (q *outboxEnqueuer) Marks() (map[string]outbox.Mark, error) { return q.ob.Marks() }

// handoffFixture is an engine over a real outbox and state file, with a
// file check "marker" whose absence fires rule "gone" (no repeat, no
// resolve mail).
type handoffFixture struct {
	t       *testing.T
	dataDir string
	marker  string
	clock   time.Time
	q       *outboxEnqueuer
	cfg     *config.Config
}

func newHandoffFixture(t *testing.T) *handoffFixture {
	t.Helper()
	f := &handoffFixture{t: t, dataDir: t.TempDir(), marker: filepath.Join(t.TempDir(), "marker"),
		clock: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	ob, err := outbox.Open(filepath.Join(f.dataDir, "outbox.db"), outbox.Options{Now: func() time.Time { return f.clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	f.q = &outboxEnqueuer{ob: ob}
	f.cfg = loadSource(t, handoffSource(f.dataDir, f.marker))
	return f
}

// handoffSource is the configuration of newHandoffFixture.
func handoffSource(dataDir, marker string) string {
	return `
agent {
  node     = "node-1"
  data_dir = "` + dataDir + `"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
check "marker" {
  file = "` + marker + `"
}
rule "gone" {
  when    = !check.marker.exists
  notify  = [contact.ops]
  subject = "marker gone"
  on_resolve = false
}
`
}

// start makes an engine as a (re)started agent does, with its checks run
// once.
func (f *handoffFixture) start() *Runner {
	f.t.Helper()
	e, err := New(f.cfg, hclog.NewNullLogger(), f.q, Options{Now: func() time.Time { return f.clock }})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx := context.Background()
	e.runner.Start(ctx)
	if err := e.runner.Ready(ctx); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { e.runner.Stop(); e.close() })
	return e
}

// crash ends e without anything a clean stop would do.
func (f *handoffFixture) crash(e *Runner) {
	e.runner.Stop()
	e.close()
}

// tick evaluates every rule once, a minute after the last tick.
func (f *handoffFixture) tick(e *Runner) {
	f.clock = f.clock.Add(time.Minute)
	e.tick(context.Background(), f.cfg.Rules, false)
}

// fires returns the fire entries the outbox holds.
func (f *handoffFixture) fires() []*outbox.Entry {
	f.t.Helper()
	all, err := f.q.ob.List("")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*outbox.Entry
	for _, e := range all {
		if e.Event == rules.EventFire.String() {
			out = append(out, e)
		}
	}
	return out
}

func (f *handoffFixture) stateFile() string { return filepath.Join(f.dataDir, StateFile) }

// TestHandoff_OutboxFailsAfterCommit: the outbox stores a hand-off but
// the engine is told it failed. The engine keeps the old state, but the
// next tick finds the mark and does not fire the alert again under a new
// Message-ID.
func TestHandoff_OutboxFailsAfterCommit(t *testing.T) {
	f := newHandoffFixture(t)
	e := f.start()
	f.q.failAfterCommit = true
	f.tick(e)
	f.q.failAfterCommit = false
	if n := len(f.fires()); n != 1 {
		t.Fatalf("%d fire entries after the first tick, want 1", n)
	}
	if e.DeliveryFailures() != 1 {
		t.Errorf("delivery failures = %d, want 1", e.DeliveryFailures())
	}
	f.tick(e)
	f.tick(e)
	if got := f.fires(); len(got) != 1 {
		t.Fatalf("%d fire entries after two more ticks, want 1 (the alert fired again under a new Message-ID)", len(got))
	}
	if st := e.states["gone"]; st.Phase != rules.Firing || st.Seq != 1 {
		t.Errorf("state = %+v, want firing with Seq 1 (taken from the mark)", st)
	}
	// And the state file has it, for the next start.
	f.crash(e)
	e = f.start()
	f.tick(e)
	if got := f.fires(); len(got) != 1 {
		t.Fatalf("%d fire entries after a restart, want 1", len(got))
	}
}

// TestHandoff_CrashBeforeStateSave: the process dies after the outbox
// transaction and before the state file's (simulated by putting the state
// file back as it was before the tick). The restarted engine takes the
// state from the mark and does not fire again.
func TestHandoff_CrashBeforeStateSave(t *testing.T) {
	f := newHandoffFixture(t)
	e := f.start()
	before, err := os.ReadFile(f.stateFile())
	if err != nil {
		t.Fatal(err)
	}
	f.tick(e)
	f.crash(e)
	if err := os.WriteFile(f.stateFile(), before, 0o600); err != nil {
		t.Fatal(err)
	}
	first := f.fires()
	if len(first) != 1 {
		t.Fatalf("%d fire entries, want 1", len(first))
	}

	e = f.start()
	if st := e.states["gone"]; st.Phase != rules.Firing || st.Seq != 1 {
		t.Fatalf("state after the restart = %+v, want firing with Seq 1 from the mark", st)
	}
	f.tick(e)
	f.tick(e)
	if got := f.fires(); len(got) != 1 || got[0].ID != first[0].ID {
		t.Fatalf("fire entries after the restart: %d, want only %s", len(got), first[0].ID)
	}
	// The mark's state was saved to the state file at the restart.
	f.crash(e)
	saved, err := rules.OpenStore(f.stateFile())
	if err != nil {
		t.Fatal(err)
	}
	st, ok, err := saved.Load("gone")
	_ = saved.Close()
	if err != nil || !ok || st.Seq != 1 || st.Phase != rules.Firing {
		t.Fatalf("state file after the restart: %+v, %v, %v; want firing at Seq 1", st, ok, err)
	}
	e = f.start()
	if st := e.states["gone"]; st.Phase != rules.Firing || st.Seq != 1 {
		t.Fatalf("state after a second restart = %+v", st)
	}
}

// TestHandoff_StaleMarkIgnored: a mark whose Seq is not above the state
// file's is older than the state and must not bring back a resolved
// alert; a later legitimate fire still goes out.
func TestHandoff_StaleMarkIgnored(t *testing.T) {
	f := newHandoffFixture(t)
	e := f.start()
	f.tick(e) // fires: mark and state at Seq 1
	if err := os.WriteFile(f.marker, []byte("back"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runner.Stop()
	f.crash(e)
	e = f.start()
	f.tick(e) // resolves, no resolve mail: no hand-off, state inactive at Seq 1
	if st := e.states["gone"]; st.Phase != rules.Inactive || st.Seq != 1 {
		t.Fatalf("state = %+v, want inactive at Seq 1", st)
	}
	f.crash(e)
	e = f.start()
	if st := e.states["gone"]; st.Phase != rules.Inactive {
		t.Fatalf("the stale mark (Seq 1, firing) replaced the saved state: %+v", st)
	}
	if err := os.Remove(f.marker); err != nil {
		t.Fatal(err)
	}
	f.crash(e)
	e = f.start()
	f.tick(e) // a new fire: Seq 2
	if got := f.fires(); len(got) != 2 {
		t.Fatalf("%d fire entries, want 2 (the first and the legitimate second)", len(got))
	}
	if st := e.states["gone"]; st.Phase != rules.Firing || st.Seq != 2 {
		t.Errorf("state = %+v, want firing at Seq 2", st)
	}
}

// TestHandoff_UnsureHandoffOutlivesOtherRulesTicks: a hand-off that may
// have been stored after all is reconciled at the next evaluation of its
// rule, even when a tick of other rules (another schedule's, or an
// evaluation on change) comes in between.
func TestHandoff_UnsureHandoffOutlivesOtherRulesTicks(t *testing.T) {
	f := newHandoffFixture(t)
	f.cfg = loadSource(t, handoffSource(f.dataDir, f.marker)+`
rule "other" {
  schedule = "@every 1h"
  when     = check.marker.exists
  notify   = [contact.ops]
  subject  = "marker there"
}
`)
	e := f.start()
	gone, other := f.cfg.Rules[0], f.cfg.Rules[1]
	if gone.Name != "gone" || other.Name != "other" {
		t.Fatalf("rules %s, %s", gone.Name, other.Name)
	}
	ctx := context.Background()
	f.q.failAfterCommit = true
	e.Evaluate(ctx, gone)
	f.q.failAfterCommit = false
	f.clock = f.clock.Add(time.Minute)
	e.Evaluate(ctx, other)
	f.clock = f.clock.Add(time.Minute)
	e.Evaluate(ctx, gone)
	if got := f.fires(); len(got) != 1 {
		t.Fatalf("%d fire entries, want 1 (the alert fired again under a new Message-ID)", len(got))
	}
}
