package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/robfig/cron/v3"
)

func TestParseSchedule_Good(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin") // tzdata is embedded (tzdata_test.go)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) // a Sunday
	tests := []struct {
		spec string
		next time.Time // after from; zero: not checked
	}{
		{spec: "*/5 * * * *", next: from.Add(5 * time.Minute)},
		{spec: "30 */5 * * * *", next: from.Add(30 * time.Second)}, // seconds field
		{spec: "@daily", next: from.Add(24 * time.Hour)},
		{spec: "@midnight", next: from.Add(24 * time.Hour)},
		{spec: "@hourly", next: from.Add(time.Hour)},
		{spec: "@weekly"},
		{spec: "@monthly"},
		{spec: "@yearly"},
		{spec: "@annually"},
		{spec: "@every 1m", next: from.Add(time.Minute)},
		{spec: "@every 1h30m", next: from.Add(90 * time.Minute)},
		{spec: "@every 1d", next: from.Add(24 * time.Hour)},
		{spec: "@every 1.5s", next: from.Add(1500 * time.Millisecond)},
		{spec: "@every 100ms", next: from.Add(100 * time.Millisecond)},
		{spec: "CRON_TZ=Europe/Berlin 0 8 * * *", next: time.Date(2025, 6, 1, 8, 0, 0, 0, berlin)},
		{spec: "TZ=UTC 0 8 * * *", next: from.Add(8 * time.Hour)},
		{spec: "CRON_TZ=Europe/Berlin\t@daily", next: time.Date(2025, 6, 2, 0, 0, 0, 0, berlin)},
		{spec: "  0 8 * * MON-FRI  ", next: time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if err := ValidateSchedule(tt.spec); err != nil {
				t.Fatalf("ValidateSchedule: %v", err)
			}
			s, err := ParseSchedule(tt.spec)
			if err != nil {
				t.Fatalf("ParseSchedule: %v", err)
			}
			if tt.next.IsZero() {
				return
			}
			// Specs without a zone follow the location of the time given.
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Fatalf("Next(%v) = %v, want %v", from, got, tt.next)
			}
		})
	}
}

func TestParseSchedule_Bad(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "empty schedule"},
		{"   ", "empty schedule"},
		{"CRON_TZ=UTC", "must be followed by a space and a schedule"},
		{"CRON_TZ=", "must be followed by a space"},
		{"TZ=", "must be followed by a space"},
		{"CRON_TZ= * * * * *", "names no time zone"},
		{"CRON_TZ=UTC ", "must be followed by a space"}, // trimmed to "CRON_TZ=UTC"
		{"TZ=Bad/Zone * * * * *", `unknown time zone "Bad/Zone"`},
		{"CRON_TZ=../../etc/passwd * * * * *", "unknown time zone"},
		{"CRON_TZ=UTC CRON_TZ=UTC * * * * *", "more than one time zone"},
		{"CRON_TZ=UTC", "CRON_TZ=UTC 0 8 * * *"}, // the hint shows the fix
		{"@fortnightly", "unknown descriptor"},
		{"@daily extra", "unknown descriptor"},
		{"@DAILY", "unknown descriptor"},
		{"@every", "needs a duration"},
		{"@every ", "needs a duration"},
		{"@every 0s", "at least 100ms"},
		{"@every -5m", "at least 100ms"},
		{"@every 1ms", "at least 100ms"},
		{"@every 99ms", "at least 100ms"}, // MinEvery is the bound; 100ms is accepted (TestParseSchedule_Good)
		{"@every 5 m", "one duration without spaces"},
		{"@every five", "expected a number"},
		{"@everyday", "unknown descriptor"},
		{"* * * *", "4 fields"},
		{"* * * * * * *", "7 fields"},
		{"61 * * * *", "above maximum"},
		{"* * * * MOO", "failed to parse"},
		{"*/0 * * * *", "step"},
		{"5-1 * * * *", "beyond end"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				err = ValidateSchedule(tt.spec)
			}()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "schedule ") {
				t.Fatalf("error %q does not name the schedule", err)
			}
			if _, err := ParseSchedule(tt.spec); err == nil {
				t.Fatal("ParseSchedule accepted what ValidateSchedule refused")
			}
		})
	}
}

func TestGuardedParse(t *testing.T) {
	// The raw cron parser panics on this; the guard turns it into an error.
	if _, err := guardedParse("CRON_TZ=UTC"); err == nil || !strings.Contains(err.Error(), "cron parser failed") {
		t.Fatalf("guardedParse = %v", err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger returns a logger that writes to a buffer.
func testLogger() (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Info}), buf
}

func TestScheduler_RunsJob(t *testing.T) {
	log, _ := testLogger()
	s := NewScheduler(log, time.UTC)
	var runs atomic.Int32
	if _, err := s.Add("@every 100ms", func(context.Context) { runs.Add(1) }); err != nil {
		t.Fatal(err)
	}
	s.Start()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := runs.Load()
	if n < 3 {
		t.Fatalf("%d runs in 5s on @every 100ms", n)
	}
	time.Sleep(300 * time.Millisecond)
	if after := runs.Load(); after != n {
		t.Fatalf("ran %d more times after Stop", after-n)
	}
}

func TestScheduler_SkipsOverlap(t *testing.T) {
	log, buf := testLogger()
	s := NewScheduler(log, time.UTC)
	var running, maxRunning, runs atomic.Int32
	release := make(chan struct{})
	_, err := s.Add("@every 100ms", func(ctx context.Context) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		if runs.Add(1) == 1 {
			<-release // the first run overruns many ticks
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	time.Sleep(700 * time.Millisecond)
	if got := runs.Load(); got != 1 {
		t.Fatalf("%d runs while the first was still going", got)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if runs.Load() < 3 {
		t.Fatalf("only %d runs after the overrun ended", runs.Load())
	}
	if maxRunning.Load() != 1 {
		t.Fatalf("%d runs overlapped", maxRunning.Load())
	}
	out := buf.String()
	if c := strings.Count(out, "skipping ticks until it ends"); c != 1 {
		t.Fatalf("overrun logged %d times, want once:\n%s", c, out)
	}
	if !strings.Contains(out, "overrunning run ended") || !strings.Contains(out, "skipped_ticks=") {
		t.Fatalf("no end-of-overrun line:\n%s", out)
	}
}

func TestScheduler_StopWaits(t *testing.T) {
	log, _ := testLogger()
	s := NewScheduler(log, time.UTC)
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	_, err := s.Add("@every 100ms", func(ctx context.Context) {
		select {
		case started <- struct{}{}:
		default:
			return
		}
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("job never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned before the running job finished")
	}
}

func TestScheduler_StopGivesUp(t *testing.T) {
	log, _ := testLogger()
	s := NewScheduler(log, time.UTC)
	started := make(chan struct{})
	jobDone := make(chan error, 1)
	var once sync.Once
	_, err := s.Add("@every 100ms", func(ctx context.Context) {
		once.Do(func() {
			close(started)
			<-ctx.Done() // only ends when Stop cancels the job context
			jobDone <- ctx.Err()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want a deadline error", err)
	}
	select {
	case err := <-jobDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("job context ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job context was not cancelled")
	}
}

func TestScheduler_RecoversPanic(t *testing.T) {
	log, buf := testLogger()
	s := NewScheduler(log, time.UTC)
	var runs atomic.Int32
	if _, err := s.Add("@every 100ms", func(context.Context) {
		runs.Add(1)
		panic("boom")
	}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if runs.Load() < 2 {
		t.Fatal("a panicking job did not run again")
	}
	if !strings.Contains(buf.String(), "boom") {
		t.Fatalf("panic not logged:\n%s", buf.String())
	}
}

func TestScheduler_AddErrors(t *testing.T) {
	s := NewScheduler(nil, nil)
	if _, err := s.Add("CRON_TZ=UTC", func(context.Context) {}); err == nil {
		t.Error("bad spec accepted")
	}
	if _, err := s.Add("@daily", nil); err == nil {
		t.Error("nil job accepted")
	}
	id, err := s.Add("@daily", func(context.Context) {})
	if err != nil {
		t.Fatal(err)
	}
	s.Remove(id)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
}

func TestCronLogger(t *testing.T) {
	buf := &syncBuffer{}
	l := CronLogger(hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Trace}))
	l.Info("wake", "now", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	l.Error(errors.New("bad"), "panic", "stack", "trace")
	out := buf.String()
	for _, w := range []string{"[TRACE] cron: wake", "now=2025-01-02T03:04:05Z", "[ERROR] cron: panic", "error=bad"} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
	var _ cron.Logger = CronLogger(nil)
}

// overrunDriver drives a noOverlap job by hand on a fake clock that
// starts at 2026-12-05 10:00 UTC: advance moves the clock; overrun(k)
// runs the job, lets k skipped ticks come while it runs, each 10 s after
// the last, then ends it.
func overrunDriver(log hclog.Logger) (advance func(time.Duration), overrun func(skipped int)) {
	clock := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance = func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	started, release := make(chan struct{}), make(chan struct{})
	n := &noOverlap{log: log, ctx: context.Background(), now: now, job: func(context.Context) {
		started <- struct{}{}
		<-release
	}}
	overrun = func(skipped int) {
		done := make(chan struct{})
		go func() { n.Run(); close(done) }()
		<-started
		for range skipped {
			advance(10 * time.Second)
			n.Run() // skipped: returns at once
		}
		release <- struct{}{}
		<-done
	}
	return advance, overrun
}

// TestNoOverlap_OverrunWarningsRateLimited drives a job by hand on a fake
// clock: every overrun is counted, the first one warns, the next ones
// within a minute are reported with the next warning, never dropped.
func TestNoOverlap_OverrunWarningsRateLimited(t *testing.T) {
	log, buf := testLogger()
	advance, overrun := overrunDriver(log)
	warnings := func() int { return strings.Count(buf.String(), "previous run still going") }

	overrun(3)
	if warnings() != 1 || !strings.Contains(buf.String(), "skipped_ticks=3") {
		t.Fatalf("first overrun: %d warnings, want 1 and its end:\n%s", warnings(), buf.String())
	}
	overrun(2) // 30 s after the first warning: counted, not logged
	overrun(1) // 50 s after: counted, not logged
	if warnings() != 1 {
		t.Fatalf("%d warnings within a minute, want 1:\n%s", warnings(), buf.String())
	}
	advance(20 * time.Second)
	overrun(1) // 80 s after the first warning: warns, with the two quiet ones
	if warnings() != 2 || !strings.Contains(buf.String(), "unreported_overruns=2") || !strings.Contains(buf.String(), "their_skipped_ticks=3") {
		t.Fatalf("the second warning does not report the quiet overruns:\n%s", buf.String())
	}
	if c := strings.Count(buf.String(), "overrunning run ended"); c != 2 {
		t.Fatalf("%d end lines, want 2 (one per warned overrun):\n%s", c, buf.String())
	}
	// A run that does not overrun logs nothing.
	before := buf.String()
	overrun(0)
	if buf.String() != before {
		t.Fatalf("a run on time logged:\n%s", strings.TrimPrefix(buf.String(), before))
	}
}

// TestNoOverlap_EveryOverrunWarned drives a job by hand on a fake clock
// over several minutes of overruns: the first overrun of each minute warns,
// each warning reports the overruns since the previous one (and only
// those), and every skipped tick is accounted for in some log line.
func TestNoOverlap_EveryOverrunWarned(t *testing.T) {
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info, JSONFormat: true})
	advance, overrun := overrunDriver(log)

	// Times are of the first skipped tick, from the start (T).
	steps := []struct {
		name       string
		wait       time.Duration // before the run
		skipped    int
		warn       bool
		quietRuns  int // reported by the warning
		quietTicks int
	}{
		{name: "first overrun, T+10s", skipped: 2, warn: true},
		{name: "T+40s, quiet", wait: 10 * time.Second, skipped: 1},
		{name: "T+50s, quiet", skipped: 3},
		{name: "T+80s, minute 2 warns with the quiet ones", skipped: 1, warn: true, quietRuns: 2, quietTicks: 4},
		{name: "T+90s, quiet", skipped: 2},
		{name: "T+110s, quiet", skipped: 1},
		{name: "on time, between overruns", skipped: 0},
		{name: "T+150s, minute 3 warns with only its own quiet ones", wait: 30 * time.Second, skipped: 1, warn: true, quietRuns: 2, quietTicks: 3},
		{name: "T+210s, a minute to the second after the last warning, warns, nothing quiet", wait: 50 * time.Second, skipped: 4, warn: true},
		{name: "an hour later, warns again", wait: time.Hour, skipped: 1, warn: true},
	}
	total, accounted := 0, 0
	for _, st := range steps {
		before := len(buf.String())
		advance(st.wait)
		overrun(st.skipped)
		total += st.skipped
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()[before:]), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s: log line %q: %v", st.name, l, err)
			}
			lines = append(lines, m)
		}
		if !st.warn {
			if len(lines) != 0 {
				t.Fatalf("%s: logged %v, want nothing (counted for the next warning)", st.name, lines)
			}
			continue
		}
		if len(lines) != 2 || lines[0]["@level"] != "warn" || lines[1]["@message"] != "overrunning run ended" {
			t.Fatalf("%s: logged %v, want a warning and the end of the overrun", st.name, lines)
		}
		warn, end := lines[0], lines[1]
		// The first skipped tick comes 10 s after the run started.
		if got := warn["running_for"]; got != float64(10*time.Second) {
			t.Errorf("%s: running_for=%v, want 10s", st.name, got)
		}
		if got := end["skipped_ticks"]; got != float64(st.skipped) {
			t.Errorf("%s: skipped_ticks=%v, want %d", st.name, got, st.skipped)
		}
		accounted += st.skipped
		if st.quietRuns == 0 {
			if _, ok := warn["unreported_overruns"]; ok {
				t.Errorf("%s: warning reports unreported overruns, want none: %v", st.name, warn)
			}
			continue
		}
		if got := warn["unreported_overruns"]; got != float64(st.quietRuns) {
			t.Errorf("%s: unreported_overruns=%v, want %d", st.name, got, st.quietRuns)
		}
		if got := warn["their_skipped_ticks"]; got != float64(st.quietTicks) {
			t.Errorf("%s: their_skipped_ticks=%v, want %d", st.name, got, st.quietTicks)
		}
		accounted += st.quietTicks
	}
	if accounted != total {
		t.Fatalf("the logs account for %d skipped ticks of %d", accounted, total)
	}
}

// TestNoOverlap_NoRunOnceStopping: once the jobs' context has ended (Stop
// gave up waiting), a tick that still comes does not start the job.
func TestNoOverlap_NoRunOnceStopping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	n := &noOverlap{log: hclog.NewNullLogger(), ctx: ctx, now: time.Now, job: func(context.Context) { runs++ }}
	n.Run()
	cancel()
	n.Run()
	if runs != 1 {
		t.Fatalf("%d runs, want 1: the job ran after its context ended", runs)
	}
}
