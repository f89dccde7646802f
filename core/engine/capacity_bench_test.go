package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/engine/enginetest"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// BenchmarkEngineTick drives the agent's own rule runner path for 10,000 rules
// over the cached facts of 1,000 file checks: one tick is the facts
// snapshot (with node facts), the evaluation of every rule in one
// context, the hand-off of the notifications with their marks into a
// real outbox file (synced), and the save of the changed states into a
// real state file. The first tick (when about a fifth of the rules fire)
// is reported as first-tick-ms; the timed ticks are steady state, 10 s
// apart on the engine's clock. Target: under 50 ms per tick.
func BenchmarkEngineTick(b *testing.B) {
	const rules = 10000
	c := newCapacityEngine(b)
	defer c.close()
	e, g, ctx, ob := c.e, c.g, c.ctx, c.ob
	t0 := time.Now()
	e.tick(ctx, g.rules, g.readsOutbox)
	first := time.Since(t0)
	st, _ := ob.Stats()
	if st.Pending == 0 || st.Pending == rules {
		b.Fatalf("%d notifications on the first tick: the conditions do not discriminate", st.Pending)
	}
	for _, rec := range e.lastEval {
		if rec.Err != "" {
			b.Fatalf("a rule fails: %s", rec.Err)
		}
	}
	clock := &c.clock
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		*clock = clock.Add(10 * time.Second)
		e.tick(ctx, g.rules, g.readsOutbox)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	runtime.ReadMemStats(&after)
	var live runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&live)
	b.ReportMetric(float64(live.HeapAlloc)/(1<<20), "live-heap-MB")
	if path := os.Getenv("TOCSIN_BENCH_HEAP"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(f)
		_ = f.Close()
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/tick")
	b.ReportMetric(float64(first.Microseconds())/1000, "first-tick-ms")
	b.ReportMetric(float64(st.Pending), "first-tick-notifications")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rules), "ns/rule")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*rules), "allocs/rule")
}

// capacityEngine is the runner of BenchmarkEngineTick: 1,000 file checks
// (one in ten missing) and 10,000 rules on one schedule over a real
// outbox, wired to metrics as the agent wires it, its checks run once.
type capacityEngine struct {
	e     *Runner
	g     *tickGroup
	ob    *outbox.Outbox
	ctx   context.Context
	clock time.Time
}

func newCapacityEngine(b *testing.B) *capacityEngine {
	b.Helper()
	const checks, nrules = 1000, 10000
	dir, dataDir := b.TempDir(), b.TempDir()
	enginetest.CapacityFiles(b, dir, checks)
	path := filepath.Join(b.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte(enginetest.CapacitySource(dataDir, dir, "", checks, nrules, "@every 10s", "1h")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	c := &capacityEngine{ctx: context.Background(), clock: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	ob, err := outbox.Open(filepath.Join(dataDir, "outbox.db"), outbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c.ob = ob
	m := metrics.New() // wired as the agent wires it
	e, err := New(cfg, hclog.NewNullLogger(), &outboxEnqueuer{ob: ob}, Options{
		Now: func() time.Time { return c.clock }, OnEval: m.RuleEvaluated, OnTick: m.RuleTick,
		Outbox: func() rules.OutboxFact { return rules.OutboxFact{} },
	})
	if err != nil {
		b.Fatal(err)
	}
	c.e = e
	e.runner.Start(c.ctx)
	if err := e.runner.Ready(c.ctx); err != nil {
		b.Fatal(err)
	}
	c.g = e.groups[0]
	if len(e.groups) != 1 || len(c.g.rules) != nrules {
		b.Fatalf("%d groups", len(e.groups))
	}
	return c
}

func (c *capacityEngine) close() {
	c.e.runner.Stop()
	c.e.close()
	_ = c.ob.Close()
}

// cpuTime is the CPU time (user and system) the process has used, on all
// its threads: on a loaded machine a tick's CPU time says more than its
// wall time.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
