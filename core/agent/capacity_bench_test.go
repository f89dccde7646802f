package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/engine/enginetest"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/server"
)

// capacityEngine is the rule runner of BenchmarkStatus, as the one of
// engine.BenchmarkEngineTick: 1,000 file checks (one in ten missing) and
// 10,000 rules over a real outbox, wired to metrics as the agent wires it,
// its checks run once. Its schedule never comes due while it runs: the
// benchmark ticks with Evaluate.
type capacityEngine struct {
	e     *engine.Runner
	cfg   *config.Config
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
	if err := os.WriteFile(path, []byte(enginetest.CapacitySource(dataDir, dir, "", checks, nrules, "@every 1000h", "1h")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	c := &capacityEngine{ctx: context.Background(), cfg: cfg, clock: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	ob, err := outbox.Open(filepath.Join(dataDir, "outbox.db"), outbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c.ob = ob
	m := metrics.New() // wired as the agent wires it
	e, err := engine.New(cfg, hclog.NewNullLogger(), outboxHandoff{ob}, engine.Options{
		Now: func() time.Time { return c.clock }, OnEval: m.RuleEvaluated, OnTick: m.RuleTick,
		Outbox: func() rules.OutboxFact { return rules.OutboxFact{} },
	})
	if err != nil {
		b.Fatal(err)
	}
	c.e = e
	e.Start(c.ctx) // the checks run once
	return c
}

// tick evaluates every rule once, as their schedule would.
func (c *capacityEngine) tick() { c.e.Evaluate(c.ctx, c.cfg.Rules...) }

func (c *capacityEngine) close() {
	_ = c.e.Close(c.ctx)
	_ = c.ob.Close()
}

// outboxHandoff hands the runner's notifications to a real outbox.
type outboxHandoff struct{ ob *outbox.Outbox }

func (h outboxHandoff) Enqueue(ctx context.Context, marks []outbox.Mark, entries []*outbox.Entry) error {
	return h.ob.EnqueueWithMarks(ctx, marks, entries...)
}

func (h outboxHandoff) Marks() (map[string]outbox.Mark, error) { return h.ob.Marks() }

// BenchmarkStatus serves /v1/status of the agent of engine.BenchmarkEngineTick
// (2 MB of JSON) through the agent's server on loopback, as an operator's
// poller reads it: between ticks, when the rules' lines are encoded
// already, and right after a tick, when they are encoded again. Target:
// under 100 ms.
func BenchmarkStatus(b *testing.B) {
	c := newCapacityEngine(b)
	defer c.close()
	c.tick()
	srv, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: server.StatusOK} },
		Status: func() any {
			node, checks := c.e.NodeAndChecks()
			return Status{Status: facts.Status{Node: node, Time: c.clock}, rulesJSON: c.e.RulesStatusJSON(encodeRules), Checks: checks}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(c.ctx)
	url := "http://" + srv.Addr() + "/v1/status"
	get := func() int {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		return int(n)
	}
	for _, afterTick := range []bool{false, true} {
		name := "between-ticks"
		if afterTick {
			name = "after-a-tick"
		}
		b.Run(name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				if afterTick {
					b.StopTimer()
					c.clock = c.clock.Add(10 * time.Second)
					c.tick()
					b.StartTimer()
				}
				size = get()
			}
			b.ReportMetric(float64(size)/(1<<20), "MB")
		})
	}
}
