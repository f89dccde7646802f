package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// evalLog records the evaluations and ticks a Runner reports, and wakes
// waiters at each.
type evalLog struct {
	mu    sync.Mutex
	evals []string // rule names, in order
	ticks int
	wake  chan struct{}
}

func newEvalLog() *evalLog { return &evalLog{wake: make(chan struct{}, 1)} }

func (l *evalLog) options(o Options) Options {
	o.OnEval = func(rule string, _ bool) {
		l.mu.Lock()
		l.evals = append(l.evals, rule)
		l.mu.Unlock()
	}
	o.OnTick = func(time.Duration) {
		l.mu.Lock()
		l.ticks++
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return o
}

// count returns how many times rule was evaluated, and the ticks.
func (l *evalLog) count(rule string) (evals, ticks int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.evals {
		if r == rule {
			evals++
		}
	}
	return evals, l.ticks
}

// waitTicks waits until at least n ticks were reported, or fails the test
// after within.
func (l *evalLog) waitTicks(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		if _, ticks := l.count(""); ticks >= n {
			return
		}
		select {
		case <-l.wake:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("%d ticks after %s, want %d (evaluations %q)", l.ticks, within, n, l.evals)
		}
	}
}

// onChangeConfig is a configuration with the file checks marker and other
// (every second) and rules on an hourly schedule: present reads the
// marker, via_node reads it through the node field role, other reads the
// check other alone and static reads the checks in its text alone, not in
// its condition (as the daily heartbeat does). extra is added to present.
func onChangeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	marker := filepath.Join(dir, "marker")
	return opsPreamble(filepath.Join(dir, "data")) + `
check "marker" {
  file  = "` + marker + `"
  every = "1s"
}
check "other" {
  file  = "` + filepath.Join(dir, "other") + `"
  every = "1s"
}
node {
  role = check.marker.exists ? "primary" : "backup"
}
rule "present" {
  schedule = "@every 1h"
  when     = check.marker.exists && check.marker.content != "off"
  notify   = [contact.ops]
  subject  = "marker present: ${check.marker.content}"
  ` + extra + `
}
rule "via_node" {
  schedule = "@every 2h"
  when     = node.role == "primary"
  notify   = [contact.ops]
  subject  = "node up"
}
rule "other" {
  schedule = "@every 1h"
  when     = check.other.exists
  notify   = [contact.ops]
  subject  = "other present"
}
rule "static" {
  schedule = "@every 1h"
  when     = agent.stopping
  notify   = [contact.ops]
  subject  = "stopping"
  text     = "marker: ${check.marker.content}, other: ${check.other.ok}, ${join(",", keys(check))}"
}
`
}

// writeMarker writes content to the marker file under dir, at once (a
// check never reads it half written).
func writeMarker(t *testing.T, dir, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "marker.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "marker")); err != nil {
		t.Fatal(err)
	}
}

// TestEngine_EvaluatesOnChange: a file check that flips brings the
// notification of the rules that read it, directly or through a node
// field, long before their hourly schedule; the rules that do not read it
// are not evaluated.
func TestEngine_EvaluatesOnChange(t *testing.T) {
	dir := t.TempDir()
	cfg := loadSource(t, onChangeConfig(t, dir, ""))
	n := &recordingNotifier{}
	log := newEvalLog()
	e, err := New(cfg, hclog.NewNullLogger(), n, log.options(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e.Start(ctx)
	defer func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if got := n.subjects(); len(got) != 0 {
		t.Fatalf("notified before any change: %q", got)
	}

	began := time.Now()
	writeMarker(t, dir, "v1")
	log.waitTicks(t, 1, 5*time.Second)
	took := time.Since(began)
	got := n.subjects()
	slices.Sort(got)
	if want := []string{"marker present: v1", "node up"}; !slices.Equal(got, want) {
		t.Fatalf("after the marker appeared: %q, want %q", got, want)
	}
	// One check interval (1s, its second run up to half of it sooner),
	// not the rules' hour.
	if took > 3*time.Second {
		t.Errorf("the notification came %s after the change", took)
	}
	for rule, want := range map[string]int{"present": 1, "via_node": 1, "other": 0, "static": 0} {
		if got, _ := log.count(rule); got != want {
			t.Errorf("rule %s evaluated %d times, want %d", rule, got, want)
		}
	}

	// The marker's content changes: present, whose condition reads it,
	// is evaluated again (firing, without repeat: no mail); via_node,
	// whose condition reads only whether the marker exists, is not.
	writeMarker(t, dir, "v2")
	log.waitTicks(t, 2, 5*time.Second)
	if got, _ := log.count("present"); got != 2 {
		t.Errorf("present evaluated %d times after the second change, want 2", got)
	}
	if got, _ := log.count("via_node"); got != 1 {
		t.Errorf("via_node evaluated %d times after the content changed, want 1", got)
	}
	if got := n.subjects(); len(got) != 2 {
		t.Errorf("a firing rule without repeat notified again: %q", got)
	}
	if got, _ := log.count("other"); got != 0 {
		t.Errorf("rule other evaluated %d times; its check never changed", got)
	}
}

// fakeClock is a clock tests move; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestEngine_OnChangeKeepsFor: evaluations on change do not make `for`
// fire sooner: it still counts the clock from when the condition first
// held.
func TestEngine_OnChangeKeepsFor(t *testing.T) {
	dir := t.TempDir()
	cfg := loadSource(t, onChangeConfig(t, dir, `for = "5m"`))
	n := &recordingNotifier{}
	log := newEvalLog()
	clock := &fakeClock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	e, err := New(cfg, hclog.NewNullLogger(), n, log.options(Options{Now: clock.now}))
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context())
	defer func() { _ = e.Close(context.Background()) }()
	present := func() []string {
		var out []string
		for _, s := range n.subjects() {
			if strings.HasPrefix(s, "marker present") {
				out = append(out, s)
			}
		}
		return out
	}
	phase := func() rules.Phase {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.states["present"].Phase
	}

	writeMarker(t, dir, "v1") // holds from now on
	log.waitTicks(t, 1, 5*time.Second)
	if p := phase(); p != rules.Pending || len(present()) != 0 {
		t.Fatalf("at once: phase %s, mails %q; want pending, none", p, present())
	}

	clock.add(4*time.Minute + 59*time.Second)
	writeMarker(t, dir, "v2")
	log.waitTicks(t, 2, 5*time.Second)
	if p := phase(); p != rules.Pending || len(present()) != 0 {
		t.Fatalf("after 4m59s: phase %s, mails %q; want pending, none", p, present())
	}

	clock.add(time.Second)
	writeMarker(t, dir, "v3")
	log.waitTicks(t, 3, 5*time.Second)
	if got := present(); !slices.Equal(got, []string{"marker present: v3"}) {
		t.Fatalf("after 5m: %q, want the fire", got)
	}
}

// TestEngine_ChangesCoalesce: checks that change together make one
// evaluation of the rules they affect, each rule once, in one tick.
func TestEngine_ChangesCoalesce(t *testing.T) {
	dir := t.TempDir()
	cfg := loadSource(t, onChangeConfig(t, dir, ""))
	n := &recordingNotifier{}
	log := newEvalLog()
	e, err := New(cfg, hclog.NewNullLogger(), n, log.options(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The checks run, but nothing evaluates on change yet.
	e.runner.Start(ctx)
	defer func() { _ = e.Close(context.Background()) }()
	if err := e.runner.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	writeMarker(t, dir, "v1")
	if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap := e.runner.Snapshot()
		if snap["marker"].OK && snap["other"].OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the checks did not see the files")
		}
		time.Sleep(20 * time.Millisecond)
	}

	e.startWatch(ctx)
	log.waitTicks(t, 1, 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // the checks run again, unchanged
	for rule, want := range map[string]int{"present": 1, "via_node": 1, "other": 1, "static": 0} {
		if got, _ := log.count(rule); got != want {
			t.Errorf("rule %s evaluated %d times, want %d", rule, got, want)
		}
	}
	if _, ticks := log.count(""); ticks != 1 {
		t.Errorf("%d ticks, want 1", ticks)
	}
	n.mu.Lock()
	calls := n.calls
	n.mu.Unlock()
	if calls != 1 {
		t.Errorf("%d outbox transactions, want 1", calls)
	}
}

// blockingNotifier blocks every Enqueue until its context ends.
type blockingNotifier struct {
	recordingNotifier
	entered chan struct{}
}

func (b *blockingNotifier) Enqueue(ctx context.Context, _ []outbox.Mark, _ []*outbox.Entry) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// watching returns the goroutine that evaluates on change, nil when
// none was started.
func (e *Runner) watching() *changeWatch {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.watch
}

// assertWatchEnded fails the test unless w has ended and no goroutine
// runs watchChanges any more (within a second: a goroutine that closed
// done may still be on its way out).
func assertWatchEnded(t *testing.T, w *changeWatch) {
	t.Helper()
	select {
	case <-w.done:
	default:
		t.Fatal("the goroutine that evaluates on change has not ended")
	}
	deadline := time.Now().Add(time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !strings.Contains(string(buf), "watchChanges") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine still runs watchChanges:\n%s", buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEngine_StopEndsWatch: Stop and Close end the goroutine that
// evaluates on change, an evaluation stuck in the hand-off included (its
// context ends with Close's).
func TestEngine_StopEndsWatch(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		dir := t.TempDir()
		e, err := New(loadSource(t, onChangeConfig(t, dir, "")), hclog.NewNullLogger(), &recordingNotifier{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e.Start(t.Context())
		w := e.watching()
		if w == nil {
			t.Fatal("no goroutine evaluates on change after Start")
		}
		if err := e.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		assertWatchEnded(t, w)
		e.startWatch(t.Context())
		if e.watching() != nil {
			t.Fatal("evaluation on change started again after Stop")
		}
	})
	t.Run("close with an evaluation stuck", func(t *testing.T) {
		dir := t.TempDir()
		q := &blockingNotifier{entered: make(chan struct{}, 1)}
		e, err := New(loadSource(t, onChangeConfig(t, dir, "")), hclog.NewNullLogger(), q, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e.Start(t.Context())
		w := e.watching()
		if w == nil {
			t.Fatal("no goroutine evaluates on change after Start")
		}
		writeMarker(t, dir, "v1")
		select {
		case <-q.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("no evaluation on change")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := e.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the deadline", err)
		}
		assertWatchEnded(t, w)
	})
}

func TestReadsOf(t *testing.T) {
	node := nodeReads(map[string]hcl.Expression{
		"role":    parseExpr(t, `peer.primary.role == "x" ? "a" : check.role.stdout`),
		"version": parseExpr(t, `check.marker.exists ? "1" : "2"`),
		"name":    parseExpr(t, `"static"`),
	})
	tests := []struct {
		expr string
		all  bool
		want []string // fact.attribute, fact.* for a fact read whole
	}{
		{expr: `check.a.ok`, want: []string{"a.ok"}},
		{expr: `check["a"].ok && peer.p.reachable && check.a["status"] == 200`, want: []string{"a.ok", "a.status", "p.reachable"}},
		{expr: `"${check.a.content} ${agent.node}"`, want: []string{"a.content"}},
		{expr: `check.a.json.state == "up"`, want: []string{"a.json"}},
		{expr: `jsonencode(check.a) != "" && check.a.ok`, want: []string{"a.*"}},
		{expr: `check.a.ok && jsonencode(check.a) != ""`, want: []string{"a.*"}},
		{expr: `node.version == "1"`, want: []string{"marker.exists"}},
		{expr: `node.role == "primary"`, want: []string{"primary.role", "role.stdout"}},
		{expr: `node.name == "x" && agent.stopping`},
		{expr: `outbox.dead > 0`},
		{expr: `node["version"]`, want: []string{"marker.exists"}},
		{expr: `length(node) > 0`, want: []string{"marker.exists", "primary.role", "role.stdout"}},
		{expr: `length(check) > 0`, all: true},
		{expr: `alltrue([for c in peer : c.reachable])`, all: true},
		{expr: `contains([for n in ["a"] : check[n].ok], true)`, all: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got := readsOf([]hcl.Expression{parseExpr(t, tt.expr), nil}, node)
			var reads []string
			for name, attrs := range got.facts {
				if attrs == nil {
					reads = append(reads, name+".*")
				}
				for a := range attrs {
					reads = append(reads, name+"."+a)
				}
			}
			slices.Sort(reads)
			if got.all != tt.all || !slices.Equal(reads, tt.want) {
				t.Errorf("reads all %v %q, want all %v %q", got.all, reads, tt.all, tt.want)
			}
			if got.empty() != (!tt.all && len(tt.want) == 0) {
				t.Errorf("empty = %v", got.empty())
			}
		})
	}
}

func parseExpr(t *testing.T, src string) hcl.Expression {
	t.Helper()
	x, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return x
}

func TestChangeIndex_Affected(t *testing.T) {
	reads := func(all bool, facts map[string][]string) factReads {
		r := factReads{all: all}
		for name, attrs := range facts {
			if attrs == nil {
				r.addFact(name, "")
			}
			for _, a := range attrs {
				r.addFact(name, a)
			}
		}
		return r
	}
	var c changeIndex
	c.add(ruleAt{1, 0}, reads(false, map[string][]string{"a": {"ok"}, "b": {"content"}}))
	c.add(ruleAt{0, 2}, reads(false, map[string][]string{"b": nil}))
	c.add(ruleAt{0, 1}, reads(true, nil))
	c.add(ruleAt{0, 3}, reads(false, map[string][]string{"c": {"ok", "error"}}))
	c.add(ruleAt{0, 4}, reads(false, map[string][]string{"a": {"content"}}))

	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	fact := func(name string, ok bool, content string) facts.Fact {
		f := facts.Fact{Check: name, Kind: facts.KindFile, OK: ok, Observed: t0,
			Values: map[string]cty.Value{"content": cty.StringVal(content), "age": cty.NumberIntVal(1)}}
		if !ok {
			f.Error = "gone"
		}
		return f
	}
	change := func(name string, before, after facts.Fact) map[string]facts.Change {
		return map[string]facts.Change{name: {Before: before, After: after}}
	}
	later := fact("a", true, "x")
	later.Observed = t0.Add(time.Hour)
	later.Values["age"] = cty.NumberIntVal(3600)
	other := fact("a", true, "x")
	other.Kind = facts.KindCommand
	tests := []struct {
		name    string
		changes map[string]facts.Change
		want    []ruleAt
	}{
		{"nothing", nil, nil},
		{"a's ok", change("a", fact("a", true, "x"), fact("a", false, "x")), []ruleAt{{0, 1}, {1, 0}}},
		{"a's content", change("a", fact("a", true, "x"), fact("a", true, "y")), []ruleAt{{0, 1}, {0, 4}}},
		{"a: observed and age alone", change("a", fact("a", true, "x"), later), nil},
		{"a flipped back", change("a", fact("a", true, "x"), fact("a", true, "x")), nil},
		{"a: another kind", change("a", fact("a", true, "x"), other), []ruleAt{{0, 1}, {0, 4}, {1, 0}}},
		{"b, read whole", change("b", fact("b", true, "x"), fact("b", false, "x")), []ruleAt{{0, 1}, {0, 2}}},
		{"a fact no rule names", change("zzz", fact("zzz", true, "x"), fact("zzz", false, "x")), []ruleAt{{0, 1}}},
		{"c and b together", map[string]facts.Change{
			"c": {Before: fact("c", true, "x"), After: fact("c", false, "x")},
			"b": {Before: fact("b", true, "x"), After: fact("b", true, "y")},
		}, []ruleAt{{0, 1}, {0, 2}, {0, 3}, {1, 0}}},
	}
	for _, tt := range tests {
		if got := c.affected(tt.changes); !slices.Equal(got, tt.want) {
			t.Errorf("%s: affected = %v, want %v", tt.name, got, tt.want)
		}
	}
}
