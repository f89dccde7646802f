package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"github.com/robfig/cron/v3"
)

// cronParser parses schedule specs: 5 fields, or 6 with seconds first, or a
// descriptor.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// MinEvery is the shortest interval "@every" accepts. Shorter ones are
// almost surely a typo ("1ms" for "1m").
const MinEvery = 100 * time.Millisecond

// scheduleHelp ends most schedule errors.
const scheduleHelp = `a schedule is 5 fields (minute hour day-of-month month day-of-week), ` +
	`6 with a leading seconds field, or a descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every 5m), ` +
	`optionally preceded by a time zone as in "CRON_TZ=Europe/Berlin 0 8 * * *"`

// ValidateSchedule reports whether spec is a valid schedule (see
// ParseSchedule) with an error that says what is wrong. It never panics.
func ValidateSchedule(spec string) error {
	_, err := ParseSchedule(spec)
	return err
}

// ParseSchedule parses a schedule spec:
//
//   - five cron fields "minute hour day-of-month month day-of-week", or six
//     with a leading seconds field ("*/10 * * * * *");
//   - a descriptor: @yearly (@annually), @monthly, @weekly, @daily
//     (@midnight), @hourly, or "@every DURATION" with a Go duration of at
//     least MinEvery ("@every 90s"); a sub-second or fractional interval is
//     kept exactly, not rounded to whole seconds as cron.Every does;
//   - any of these after "CRON_TZ=Zone " or "TZ=Zone " (an IANA zone name
//     followed by white space), which evaluates the fields in that zone
//     instead of the scheduler's.
//
// The spec is checked before robfig/cron's parser sees it (that parser
// panics on a zone prefix without a following space), and the parser runs
// under recover as a last guard: ParseSchedule never panics.
func ParseSchedule(spec string) (cron.Schedule, error) {
	sched, err := parseSchedule(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return sched, nil
}

// parseSchedule implements ParseSchedule; its errors do not repeat spec.
func parseSchedule(spec string) (cron.Schedule, error) {
	body := strings.TrimSpace(spec)
	if body == "" {
		return nil, errors.New("empty schedule; " + scheduleHelp)
	}
	var loc *time.Location
	if strings.HasPrefix(body, "CRON_TZ=") || strings.HasPrefix(body, "TZ=") {
		prefix, rest, _ := strings.Cut(body, "=")
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return nil, fmt.Errorf("the time zone prefix must be followed by a space and a schedule, as in \"%s=%s 0 8 * * *\"", prefix, rest)
		}
		zone := rest[:i]
		body = strings.TrimSpace(rest[i:])
		if zone == "" {
			return nil, fmt.Errorf("%s= names no time zone; use an IANA name such as \"%s=Europe/Berlin 0 8 * * *\"", prefix, prefix)
		}
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin or UTC): %w", zone, err)
		}
		if strings.HasPrefix(body, "CRON_TZ=") || strings.HasPrefix(body, "TZ=") {
			return nil, errors.New("more than one time zone prefix")
		}
	}

	if every, ok := strings.CutPrefix(body, "@every"); ok && (every == "" || unicode.IsSpace(rune(every[0]))) {
		return parseEvery(strings.TrimSpace(every))
	}
	if strings.HasPrefix(body, "@") {
		switch body {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		default:
			return nil, fmt.Errorf("unknown descriptor %q; the descriptors are @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly and @every DURATION", body)
		}
	} else if n := len(strings.Fields(body)); n < 5 || n > 6 {
		return nil, fmt.Errorf("%d fields; %s", n, scheduleHelp)
	}

	sched, err := guardedParse(body)
	if err != nil {
		return nil, err
	}
	if ss, ok := sched.(*cron.SpecSchedule); ok && loc != nil {
		ss.Location = loc
	}
	return sched, nil
}

// guardedParse runs robfig/cron's parser under recover.
func guardedParse(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid schedule (the cron parser failed: %v); %s", r, scheduleHelp)
		}
	}()
	return cronParser.Parse(spec)
}

// parseEvery parses the duration of "@every DURATION".
func parseEvery(s string) (cron.Schedule, error) {
	if s == "" {
		return nil, errors.New(`@every needs a duration, as in "@every 5m"`)
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return nil, fmt.Errorf(`@every takes one duration without spaces, as in "@every 1h30m", not %q`, s)
	}
	d, err := ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("@every: %w", err)
	}
	if d < MinEvery {
		return nil, fmt.Errorf("@every %s: the interval must be at least %s", s, MinEvery)
	}
	if d%time.Second == 0 {
		return cron.Every(d), nil
	}
	return everySchedule(d), nil
}

// everySchedule is "@every" with an interval that is not a whole number of
// seconds, which cron.Every would round.
type everySchedule time.Duration

// Next returns t plus the interval.
func (e everySchedule) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// CronLogger adapts an hclog logger to robfig/cron's Logger. cron's routine
// messages (start, wake, run, ...) go to Trace, its errors (a recovered
// panic, with its stack) to Error.
func CronLogger(l hclog.Logger) cron.Logger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return cronLogger{l}
}

// cronLogger implements cron.Logger on hclog.
type cronLogger struct{ l hclog.Logger }

// Info implements cron.Logger.
func (c cronLogger) Info(msg string, kv ...any) {
	if c.l.IsTrace() {
		c.l.Trace("cron: "+msg, cronArgs(kv)...)
	}
}

// Error implements cron.Logger.
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append([]any{"error", err}, cronArgs(kv)...)...)
}

// cronArgs formats the times among cron's key/value pairs as RFC 3339.
func cronArgs(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		if t, ok := v.(time.Time); ok {
			v = t.Format(time.RFC3339Nano)
		}
		out[i] = v
	}
	return out
}

// Scheduler runs jobs on schedules. It wraps robfig/cron with panic
// recovery (a panicking job is logged with its stack and runs again at its
// next tick), a no-overlap policy, and a context for jobs.
//
// No overlap: a job whose previous run is still going when its next tick
// comes is skipped for that tick, not queued and not run in parallel. The
// first skipped tick of an overrun is logged at Warn, and when the overrun
// run ends the number of skipped ticks is logged at Info: one overrun gives
// two lines however many ticks it spans. A schedule that overruns again
// and again warns at most once a minute: the overruns in between are not
// logged but counted, and the next warning reports them
// (unreported_overruns, their_skipped_ticks). Skipping (rather than delaying)
// keeps evaluations on their schedule and never lets a backlog build up:
// the next run after an overrun sees the newest facts anyway.
type Scheduler struct {
	cron   *cron.Cron
	log    hclog.Logger
	ctx    context.Context
	cancel context.CancelFunc
}

// NewScheduler returns a stopped scheduler that logs to logger (nil
// discards) and evaluates specs without a time zone prefix in loc (nil
// means time.Local).
func NewScheduler(logger hclog.Logger, loc *time.Location) *Scheduler {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if loc == nil {
		loc = time.Local
	}
	cl := CronLogger(logger)
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		cron: cron.New(
			cron.WithParser(cronParser),
			cron.WithLocation(loc),
			cron.WithLogger(cl),
			cron.WithChain(cron.Recover(cl)),
		),
		log:    logger,
		ctx:    ctx,
		cancel: cancel,
	}
}

// Add schedules job on spec (see ParseSchedule) and returns the entry's
// id. It may be called before or after Start. job receives a context that
// ends when Stop gives up waiting for running jobs; a job should return
// soon after.
func (s *Scheduler) Add(spec string, job func(ctx context.Context)) (cron.EntryID, error) {
	if job == nil {
		return 0, errors.New("add job: nil job")
	}
	sched, err := ParseSchedule(spec)
	if err != nil {
		return 0, fmt.Errorf("add job: %w", err)
	}
	n := &noOverlap{log: s.log.With("schedule", spec), job: job, ctx: s.ctx, now: time.Now}
	return s.cron.Schedule(sched, n), nil
}

// Remove unschedules the entry id; a run in progress finishes.
func (s *Scheduler) Remove(id cron.EntryID) { s.cron.Remove(id) }

// Start starts the scheduler in its own goroutine; calling it again while
// it runs does nothing.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops scheduling new runs and waits for the runs in progress to
// finish, until ctx ends. If ctx ends first, Stop ends the context given to
// the jobs and returns an error wrapping ctx.Err(); the jobs may still be
// winding down. After Stop the scheduler cannot be started again.
func (s *Scheduler) Stop(ctx context.Context) error {
	done := s.cron.Stop()
	select {
	case <-done.Done():
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return fmt.Errorf("stop scheduler: jobs still running: %w", ctx.Err())
	}
}

// overrunWarnEvery is how often at most a schedule warns of an overrun.
// The overruns in between are counted and reported with the next warning.
const overrunWarnEvery = time.Minute

// noOverlap is a cron.Job that runs job unless its previous run is still
// going, and logs overruns (see Scheduler).
type noOverlap struct {
	log hclog.Logger
	job func(context.Context)
	ctx context.Context
	now func() time.Time

	mu      sync.Mutex
	running bool
	skipped int // ticks skipped by the current overrun; reset when it ends
	started time.Time
	// warned is set when the current overrun was warned about; lastWarn
	// is when the last warning was logged, and quietRuns and quietTicks
	// count the overruns since then that were not (and their skipped
	// ticks).
	warned                bool
	lastWarn              time.Time
	quietRuns, quietTicks int
}

// Run implements cron.Job.
func (n *noOverlap) Run() {
	n.mu.Lock()
	if n.running {
		n.skipped++
		now := n.now()
		var args []any
		if n.skipped == 1 && (n.lastWarn.IsZero() || now.Sub(n.lastWarn) >= overrunWarnEvery) {
			n.warned, n.lastWarn = true, now
			args = []any{"running_for", now.Sub(n.started).Round(time.Millisecond)}
			if n.quietRuns > 0 {
				args = append(args, "unreported_overruns", n.quietRuns, "their_skipped_ticks", n.quietTicks)
				n.quietRuns, n.quietTicks = 0, 0
			}
		}
		n.mu.Unlock()
		if args != nil {
			n.log.Warn("previous run still going at the next tick; skipping ticks until it ends (warned at most once a minute per schedule)", args...)
		}
		return
	}
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		return
	}
	n.running = true
	n.started = n.now()
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		skipped, took, warned := n.skipped, n.now().Sub(n.started), n.warned
		n.running, n.skipped, n.warned = false, 0, false
		if skipped > 0 && !warned {
			n.quietRuns++
			n.quietTicks += skipped
		}
		n.mu.Unlock()
		if skipped > 0 && warned {
			n.log.Info("overrunning run ended", "skipped_ticks", skipped, "took", took.Round(time.Millisecond))
		}
	}()
	n.job(n.ctx)
}
