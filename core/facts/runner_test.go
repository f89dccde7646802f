package facts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"
)

// quickSpec is a valid spec; with a fake run it never does anything.
func quickSpec(name string, every time.Duration) Spec {
	return Spec{Name: name, Every: every, TCP: &TCPSpec{Address: "127.0.0.1:1"}}
}

// startRunner starts a runner of specs and stops it when the test ends.
func startRunner(t *testing.T, specs []Spec, opts ...RunnerOption) *Runner {
	t.Helper()
	r, err := NewRunner(hclog.NewNullLogger(), specs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(r.Stop)
	return r
}

func ready(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewRunner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		specs []Spec
		opts  []RunnerOption
		want  []string
	}{
		{name: "none", specs: nil},
		{name: "valid", specs: []Spec{quickSpec("a", 0), quickSpec("b", 0)}},
		{name: "invalid specs, all reported", specs: []Spec{{Name: "a"}, quickSpec("b", 0), {Name: "c", TCP: &TCPSpec{}}},
			want: []string{`check "a": kind: no check kind set`, `check "c": tcp.address: must be set`}},
		{name: "duplicate names", specs: []Spec{quickSpec("a", 0), quickSpec("a", time.Minute)},
			want: []string{`check "a": name: used by another check`}},
		{name: "nil clock", opts: []RunnerOption{WithClock(nil)}, want: []string{"configure fact runner: clock must not be nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewRunner(nil, tt.specs, tt.opts...)
			if len(tt.want) == 0 {
				if err != nil || r == nil {
					t.Fatalf("NewRunner = %v, %v", r, err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewRunner succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRunner_ChecksRunConcurrently(t *testing.T) {
	t.Parallel()
	// Each run waits until all three have started: run one after the
	// other, they would time out.
	var started atomic.Int32
	allIn := make(chan struct{})
	var once sync.Once
	run := func(ctx context.Context, s Spec, now func() time.Time) Fact {
		if started.Add(1) == 3 {
			once.Do(func() { close(allIn) })
		}
		f := okFact(s, now)
		select {
		case <-allIn:
		case <-time.After(2 * time.Second):
			f.OK, f.Error = false, "ran alone"
		}
		return f
	}
	r := startRunner(t, []Spec{quickSpec("a", time.Hour), quickSpec("b", time.Hour), quickSpec("c", time.Hour)}, withRunFunc(run))
	var took time.Duration
	within(t, time.Second, func() {
		start := time.Now()
		ready(t, r)
		took = time.Since(start)
	})
	snap := r.Snapshot()
	if len(snap) != 3 {
		t.Fatalf("snapshot has %d facts", len(snap))
	}
	for name, f := range snap {
		if !f.OK {
			t.Errorf("%s: %s (after %s)", name, f.Error, took)
		}
	}
}

func TestRunner_RealChecks(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok": true}`)
	}))
	t.Cleanup(srv.Close)
	clock := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)

	r := startRunner(t, []Spec{
		{Name: "db", TCP: &TCPSpec{Address: ln.Addr().String()}},
		{Name: "gone", TCP: &TCPSpec{Address: closedPort(t)}},
		{Name: "web", HTTP: &HTTPSpec{URL: srv.URL}},
		{Name: "state", File: &FileSpec{Path: writeFile(t, "state.json", `{"role":"primary"}`), JSON: true}},
		{Name: "probe", Command: &CommandSpec{Argv: []string{"echo", "fine"}}},
		{Name: "lo", Interface: &InterfaceSpec{Address: "127.0.0.1"}},
	}, WithClock(func() time.Time { return clock }))
	ready(t, r)
	snap := r.Snapshot()
	want := map[string]bool{"db": true, "gone": false, "web": true, "state": true, "probe": true, "lo": true}
	if len(snap) != len(want) {
		t.Fatalf("snapshot has %d facts, want %d", len(snap), len(want))
	}
	for name, ok := range want {
		f, found := snap[name]
		if !found {
			t.Errorf("no fact for %s", name)
			continue
		}
		checkShape(t, f)
		if f.OK != ok {
			t.Errorf("%s: OK = %v (error %q), want %v", name, f.OK, f.Error, ok)
		}
		if !f.Observed.Equal(clock) {
			t.Errorf("%s: observed %s, want the runner's clock", name, f.Observed)
		}
	}
	if !attr(t, value(t, snap["state"], "json"), "role").RawEquals(cty.StringVal("primary")) {
		t.Errorf("state json = %#v", value(t, snap["state"], "json"))
	}
	if !attr(t, snap["web"].Object(), "json", "ok").True() {
		t.Errorf("web object = %#v", snap["web"].Object())
	}
}

func TestRunner_NoOverlap(t *testing.T) {
	t.Parallel()
	// Runs take three intervals; they must follow each other, never
	// overlap.
	var mu sync.Mutex
	active := map[string]int{}
	maxActive := map[string]int{}
	runs := map[string]int{}
	run := func(_ context.Context, s Spec, now func() time.Time) Fact {
		mu.Lock()
		active[s.Name]++
		runs[s.Name]++
		maxActive[s.Name] = max(maxActive[s.Name], active[s.Name])
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		active[s.Name]--
		mu.Unlock()
		return okFact(s, now)
	}
	r, err := NewRunner(nil, []Spec{quickSpec("a", 10*time.Millisecond), quickSpec("b", 10*time.Millisecond)}, withRunFunc(run))
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	time.Sleep(250 * time.Millisecond)
	r.Stop()
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"a", "b"} {
		if maxActive[name] != 1 {
			t.Errorf("%s: up to %d runs at once", name, maxActive[name])
		}
		if runs[name] < 3 {
			t.Errorf("%s: %d runs in 250ms, want at least 3", name, runs[name])
		}
	}
}

func TestRunner_Interval(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	run := func(_ context.Context, s Spec, now func() time.Time) Fact {
		runs.Add(1)
		return okFact(s, now)
	}
	r := startRunner(t, []Spec{quickSpec("a", 50*time.Millisecond)}, withRunFunc(run))
	ready(t, r)
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs at start, want 1", n)
	}
	time.Sleep(275 * time.Millisecond)
	r.Stop()
	if n := runs.Load(); n < 4 || n > 7 {
		t.Errorf("%d runs in 275ms at 50ms intervals, want about 6", n)
	}
}

// TestRunner_StopLeavesNoGoroutine runs real checks and stops them. It is
// not parallel, so that the goroutine count is its own.
func TestRunner_StopLeavesNoGoroutine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	path := writeFile(t, "f", "x")

	before := runtime.NumGoroutine()
	r, err := NewRunner(nil, []Spec{
		{Name: "tcp", Every: 20 * time.Millisecond, TCP: &TCPSpec{Address: ln.Addr().String()}},
		{Name: "http", Every: 20 * time.Millisecond, HTTP: &HTTPSpec{URL: srv.URL}},
		{Name: "file", Every: 20 * time.Millisecond, File: &FileSpec{Path: path}},
		{Name: "command", Every: 20 * time.Millisecond, Command: &CommandSpec{Argv: []string{"true"}}},
		// Stopped in the middle of its run.
		{Name: "hanging", HTTP: &HTTPSpec{URL: slow.URL}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	time.Sleep(150 * time.Millisecond)
	within(t, 2*time.Second, r.Stop)
	if _, ran := r.Snapshot()["hanging"]; ran {
		t.Error("a run cut short by Stop left a fact")
	}
	if len(r.Snapshot()) != 4 {
		t.Errorf("snapshot has %d facts, want 4", len(r.Snapshot()))
	}

	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Stop, %d before:\n%s", n, before, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunner_Ready(t *testing.T) {
	t.Parallel()
	t.Run("no checks", func(t *testing.T) {
		t.Parallel()
		r, err := NewRunner(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Ready(t.Context()); err != nil {
			t.Errorf("Ready = %v", err)
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		t.Parallel()
		block := make(chan struct{})
		run := func(_ context.Context, s Spec, now func() time.Time) Fact {
			<-block
			return okFact(s, now)
		}
		r := startRunner(t, []Spec{quickSpec("a", time.Hour)}, withRunFunc(run))
		t.Cleanup(func() { close(block) })
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := r.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Ready = %v, want the deadline", err)
		}
	})
	t.Run("stopped first", func(t *testing.T) {
		t.Parallel()
		r, err := NewRunner(nil, []Spec{quickSpec("a", 0)})
		if err != nil {
			t.Fatal(err)
		}
		r.Stop()
		r.Stop()
		r.Start(t.Context()) // after Stop: nothing
		if err := r.Ready(t.Context()); !errors.Is(err, ErrStopped) {
			t.Errorf("Ready = %v, want ErrStopped", err)
		}
		if len(r.Snapshot()) != 0 {
			t.Errorf("snapshot = %v", r.Snapshot())
		}
	})
	t.Run("started twice", func(t *testing.T) {
		t.Parallel()
		var runs atomic.Int32
		run := func(_ context.Context, s Spec, now func() time.Time) Fact {
			runs.Add(1)
			return okFact(s, now)
		}
		r := startRunner(t, []Spec{quickSpec("a", time.Hour)}, withRunFunc(run))
		r.Start(t.Context())
		ready(t, r)
		time.Sleep(20 * time.Millisecond)
		if n := runs.Load(); n != 1 {
			t.Errorf("%d runs, want 1", n)
		}
	})
}

func TestRunner_SnapshotIsACopy(t *testing.T) {
	t.Parallel()
	r := startRunner(t, []Spec{quickSpec("a", time.Hour)}, withRunFunc(func(_ context.Context, s Spec, now func() time.Time) Fact {
		return okFact(s, now)
	}))
	ready(t, r)
	snap := r.Snapshot()
	snap["a"].Values["address"] = cty.StringVal("changed")
	delete(snap, "a")
	again := r.Snapshot()
	if got := again["a"].Values["address"].AsString(); got != "127.0.0.1:1" {
		t.Errorf("address = %q after changing a snapshot", got)
	}
}

func TestRunner_Subscribe(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	run := func(_ context.Context, s Spec, now func() time.Time) Fact {
		runs.Add(1)
		return okFact(s, now)
	}
	r, err := NewRunner(nil, []Spec{quickSpec("a", 5*time.Millisecond), quickSpec("b", time.Hour)}, withRunFunc(run))
	if err != nil {
		t.Fatal(err)
	}
	facts, unsubscribe := r.Subscribe()
	kept, _ := r.Subscribe()
	stuck, _ := r.Subscribe() // never read: must not block the runner
	r.Start(t.Context())

	seen := map[string]bool{}
	timeout := time.After(3 * time.Second)
	for !seen["a"] || !seen["b"] {
		select {
		case f := <-facts:
			seen[f.Check] = true
		case <-timeout:
			t.Fatalf("saw only %v", seen)
		}
	}
	unsubscribe()
	unsubscribe()
	for range facts { // drains what was buffered, ends when closed
	}

	// The stuck subscriber's buffer fills; the runner goes on.
	deadline := time.Now().Add(3 * time.Second)
	for runs.Load() < subscriberBuffer+10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d runs: blocked by a subscriber?", runs.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(stuck) != subscriberBuffer {
		t.Errorf("stuck subscriber holds %d facts, want %d", len(stuck), subscriberBuffer)
	}

	r.Stop()
	n := 0
	for range kept {
		n++
	}
	if n == 0 {
		t.Error("kept subscriber got nothing")
	}
	after, unsub := r.Subscribe()
	if _, open := <-after; open {
		t.Error("a subscription after Stop is open")
	}
	unsub()
}

func TestRunner_LogsChanges(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	results := []string{"", "refused", "refused", "reset", ""}
	var mu sync.Mutex
	done := make(chan struct{})
	run := func(_ context.Context, s Spec, now func() time.Time) Fact {
		mu.Lock()
		defer mu.Unlock()
		f := okFact(s, now)
		if len(results) == 0 {
			select {
			case <-done:
			default:
				close(done)
			}
			return f
		}
		if results[0] != "" {
			f.OK, f.Error = false, results[0]
		}
		results = results[1:]
		return f
	}
	r, err := NewRunner(logger, []Spec{quickSpec("db", 5*time.Millisecond)}, withRunFunc(run))
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("runs did not finish")
	}
	r.Stop()
	out := buf.String()
	if n := strings.Count(out, "check failing"); n != 1 {
		t.Errorf("%d 'check failing' lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "check recovered"); n != 1 {
		t.Errorf("%d 'check recovered' lines, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "facts: check failing: check=db kind=tcp error=refused") {
		t.Errorf("log:\n%s", out)
	}
}

func TestSpread(t *testing.T) {
	t.Parallel()
	const every = 30 * time.Second
	buckets := make([]int, 10)
	for i := range 1000 {
		name := fmt.Sprintf("c%04d", i)
		d := spread(name, every)
		if d < 0 || d >= every/2 {
			t.Fatalf("spread(%s) = %v, want in [0, %v)", name, d, every/2)
		}
		if d != spread(name, every) {
			t.Fatalf("spread(%s) differs between calls", name)
		}
		buckets[int(d*10/(every/2))]++
	}
	for i, n := range buckets {
		if n < 50 {
			t.Errorf("bucket %d of the half interval holds %d of 1000 checks: %v", i, n, buckets)
		}
	}
	for _, every := range []time.Duration{0, 1, 2} {
		if d := spread("x", every); d < 0 || (every > 0 && d >= every) {
			t.Errorf("spread(x, %v) = %v", every, d)
		}
	}
}

// TestRunner_ChecksStartedTogetherRunApart: after their first run, checks
// started together run again at their own moments, none later than one
// interval after the first run.
func TestRunner_ChecksStartedTogetherRunApart(t *testing.T) {
	t.Parallel()
	const every = 400 * time.Millisecond
	var mu sync.Mutex
	second := map[string]time.Time{}
	count := map[string]int{}
	run := func(_ context.Context, s Spec, now func() time.Time) Fact {
		mu.Lock()
		count[s.Name]++
		if count[s.Name] == 2 {
			second[s.Name] = time.Now()
		}
		mu.Unlock()
		return okFact(s, now)
	}
	var specs []Spec
	for i := range 20 {
		specs = append(specs, quickSpec(fmt.Sprintf("c%02d", i), every))
	}
	t0 := time.Now()
	r := startRunner(t, specs, withRunFunc(run))
	ready(t, r)
	time.Sleep(every + every/4)
	r.Stop()
	mu.Lock()
	defer mu.Unlock()
	var first, last time.Time
	for _, s := range specs {
		at, ok := second[s.Name]
		if !ok {
			t.Fatalf("%s did not run a second time within its interval", s.Name)
		}
		if want := every - spread(s.Name, every); at.Sub(t0) < want {
			t.Errorf("%s ran again after %v, before its %v", s.Name, at.Sub(t0), want)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if last.Sub(first) < every/8 {
		t.Errorf("the second runs all fell within %v of each other", last.Sub(first))
	}
}
