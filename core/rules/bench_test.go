package rules

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

const (
	benchFacts = 1000
	benchRules = 10000
)

// benchVars builds the facts of one tick: check.c0000 .. check.c0999, each
// {ok, latency, error, observed, status}, plus node and peer.primary.
func benchVars(now time.Time) map[string]cty.Value {
	rng := rand.New(rand.NewPCG(1, 2))
	checks := make(map[string]cty.Value, benchFacts)
	for i := 0; i < benchFacts; i++ {
		ok := rng.IntN(10) != 0
		errText := ""
		status := 200
		if !ok {
			errText = "connection refused"
			status = 503
		}
		checks[fmt.Sprintf("c%04d", i)] = cty.ObjectVal(map[string]cty.Value{
			"ok":       cty.BoolVal(ok),
			"latency":  cty.NumberFloatVal(rng.Float64()),
			"error":    cty.StringVal(errText),
			"observed": cty.StringVal(now.Add(-time.Duration(rng.IntN(48*3600)) * time.Second).Format(time.RFC3339)),
			"status":   cty.NumberIntVal(int64(status)),
		})
	}
	return map[string]cty.Value{
		"check": cty.ObjectVal(checks),
		"node":  cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("appliance-b"), "version": cty.StringVal("4.2")}),
		"peer": cty.ObjectVal(map[string]cty.Value{
			"primary": cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal("4.1"), "reachable": cty.True}),
		}),
	}
}

// benchConditions are the shapes of the generated conditions; %[1]s,
// %[2]s and %[3]s are fact names.
var benchConditions = []string{
	`!check.%[1]s.ok`,
	`check.%[1]s.latency > 0.5`,
	`!check.%[1]s.ok && check.%[2]s.latency > 0.5 || age(check.%[3]s.observed) > duration("24h")`,
	`check.%[1]s.status >= 500 && check.%[2]s.error != ""`,
	`peer.primary.version != node.version && check.%[1]s.ok`,
	`age(check.%[1]s.observed) > duration("10m")`,
	`check.%[1]s.ok == false || check.%[2]s.status != 200`,
	`!peer.primary.reachable || (check.%[1]s.latency > 0.9 && !check.%[2]s.ok)`,
}

// benchRuleSet parses n rules over the facts of benchVars.
func benchRuleSet(tb testing.TB, n int) []*Rule {
	rng := rand.New(rand.NewPCG(3, 4))
	rules := make([]*Rule, n)
	for i := range rules {
		src := fmt.Sprintf(benchConditions[i%len(benchConditions)],
			fmt.Sprintf("c%04d", rng.IntN(benchFacts)),
			fmt.Sprintf("c%04d", rng.IntN(benchFacts)),
			fmt.Sprintf("c%04d", rng.IntN(benchFacts)))
		rules[i] = &Rule{
			Name:   fmt.Sprintf("rule_%05d", i),
			When:   mustExpr(tb, src),
			For:    time.Duration(i%3) * 5 * time.Minute,
			Repeat: time.Hour,
		}
	}
	return rules
}

// evaluateTick evaluates every rule once at now, as the agent does at a
// tick: one shared context, Holds then Step.
func evaluateTick(rules []*Rule, states []State, ctx *hcl.EvalContext, now time.Time) (events, errs int) {
	for i, r := range rules {
		holds, err := r.Holds(ctx)
		if err != nil {
			errs++
		}
		var ev []Event
		states[i], ev = Step(r, states[i], holds, err, now)
		events += len(ev)
	}
	return events, errs
}

func TestEvaluateTick_Setup(t *testing.T) {
	now := t0
	rules := benchRuleSet(t, 800)
	states := make([]State, len(rules))
	ctx := &hcl.EvalContext{Variables: benchVars(now), Functions: Functions(fixedClock(now))}
	events, errs := evaluateTick(rules, states, ctx, now)
	if errs != 0 {
		for _, r := range rules {
			if _, err := r.Holds(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if events == 0 {
		t.Fatal("no rule fired on the first tick")
	}
	firing := 0
	for _, s := range states {
		if s.Phase == Firing {
			firing++
		}
	}
	if firing == 0 || firing == len(rules) {
		t.Fatalf("%d of %d rules firing: the conditions do not discriminate", firing, len(rules))
	}
}

// BenchmarkEvaluateTick evaluates 10,000 rules over 1,000 facts per op,
// with the conditions compiled by Prepare (as the agent runs them) and
// with HCL's evaluator alone.
func BenchmarkEvaluateTick(b *testing.B) {
	for _, prepared := range []bool{true, false} {
		name := "hcl"
		if prepared {
			name = "prepared"
		}
		b.Run(name, func(b *testing.B) {
			now := t0
			rules := benchRuleSet(b, benchRules)
			if prepared {
				for _, r := range rules {
					r.Prepare()
				}
			}
			states := make([]State, len(rules))
			ctx := &hcl.EvalContext{Variables: benchVars(now), Functions: Functions(fixedClock(now))}
			if _, errs := evaluateTick(rules, states, ctx, now); errs != 0 {
				b.Fatalf("%d rules failed", errs)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Minute)
				evaluateTick(rules, states, ctx, now)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			perRule := float64(b.N * len(rules))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perRule, "ns/rule")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/perRule, "allocs/rule")
		})
	}
}
