package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// recordingNotifier records what the engine enqueues, and its hand-off
// marks, as the outbox would; it fails while fail is set.
type recordingNotifier struct {
	mu    sync.Mutex
	got   []outbox.Mail
	fail  bool
	stock map[string]outbox.Mark
	calls int // enqueue calls that stored something
}

func (n *recordingNotifier) Enqueue(_ context.Context, marks []outbox.Mark, entries []*outbox.Entry) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return errors.New("disk full")
	}
	for _, e := range entries {
		n.got = append(n.got, e.Mail)
	}
	n.calls++
	if n.stock == nil {
		n.stock = map[string]outbox.Mark{}
	}
	for _, m := range marks {
		n.stock[m.Name] = m
	}
	return nil
}

func (n *recordingNotifier) Marks() (map[string]outbox.Mark, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]outbox.Mark{}
	for k, v := range n.stock {
		out[k] = v
	}
	return out, nil
}

func (n *recordingNotifier) subjects() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s []string
	for _, m := range n.got {
		s = append(s, m.Subject)
	}
	return s
}

// loadSource loads src as the configuration file a.hcl of a new
// directory.
func loadSource(t *testing.T, src string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// engineConfig writes a config with a file check and a rule on it.
func engineConfig(t *testing.T, dataDir, marker string) *config.Config {
	t.Helper()
	src := `
` + opsPreamble(dataDir) + `check "marker" {
  file = "` + marker + `"
}
node {
  role = "backup"
}
rule "marker_missing" {
  when    = !check.marker.exists
  repeat  = "1h"
  notify  = [contact.ops]
  subject = "marker missing on ${agent.node} (${node.role})"
  attach  = ["` + marker + `.log"]
}
`
	return loadSource(t, src)
}

// TestEngine_FiresRepeatsResolvesAndSurvivesRestart drives the engine's
// evaluation by hand with a fake clock.
func TestEngine_FiresRepeatsResolvesAndSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker+".log", []byte("line 1\nline 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	n := &recordingNotifier{}
	ctx := context.Background()

	start := func() *Runner {
		e, err := New(engineConfig(t, dataDir, marker), hclog.NewNullLogger(), n, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		e.runner.Start(ctx)
		if err := e.runner.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	r := e.cfg.Rules[0]

	e.Evaluate(ctx, r) // marker missing: fires
	if got := n.subjects(); len(got) != 1 || got[0] != "marker missing on node-1 (backup)" {
		t.Fatalf("after the first evaluation: %q", got)
	}
	if a := n.got[0].Attachments; len(a) != 1 || string(a[0].Data) != "line 1\nline 2\n" {
		t.Errorf("attachments = %+v", a)
	}
	// The notification says which alert it is about (issue 20).
	if a := n.got[0].Alert; a == nil || a.Name != r.Name || a.State != sdk.AlertFiring || a.Labels["node"] != "node-1" ||
		a.Labels["role"] != "backup" || a.Labels["severity"] != r.Severity || !a.StartsAt.Equal(clock) || !a.EndsAt.IsZero() {
		t.Errorf("alert of the fire = %+v", a)
	}
	fired := clock
	if !e.Firing(r.Name) || e.Firing("no_such_rule") {
		t.Errorf("Firing(%s) = %v, Firing(no_such_rule) = %v; want true, false", r.Name, e.Firing(r.Name), e.Firing("no_such_rule"))
	}
	clock = clock.Add(30 * time.Minute)
	e.Evaluate(ctx, r) // still missing, repeat not due
	if len(n.subjects()) != 1 {
		t.Fatalf("repeated before the interval: %q", n.subjects())
	}

	// A restart does not send the same alert again before repeat.
	e.runner.Stop()
	e.close()
	e = start()
	r = e.cfg.Rules[0]
	e.Evaluate(ctx, r)
	if len(n.subjects()) != 1 {
		t.Fatalf("restart repeated the alert: %q", n.subjects())
	}

	// Delivery fails at the repeat: the state is kept and the next tick
	// tries again.
	clock = clock.Add(31 * time.Minute)
	n.fail = true
	e.Evaluate(ctx, r)
	n.fail = false
	clock = clock.Add(time.Minute)
	e.Evaluate(ctx, r)
	if got := n.subjects(); len(got) != 2 {
		t.Fatalf("the failed repeat was not tried again: %q", got)
	}
	if f := e.DeliveryFailures(); f != 1 {
		t.Errorf("delivery failures counted: %d, want 1", f)
	}

	// The marker appears: resolved mail.
	if err := os.WriteFile(marker, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runner.Stop()
	e.close()
	e = start()
	e.Evaluate(ctx, e.cfg.Rules[0])
	got := n.subjects()
	if len(got) != 3 || !strings.HasPrefix(got[2], "Resolved: ") {
		t.Fatalf("resolve: %q", got)
	}
	if e.Firing(e.cfg.Rules[0].Name) {
		t.Error("Firing after the resolve")
	}
	if a := n.got[2].Alert; a == nil || a.State != sdk.AlertResolved || !a.StartsAt.Equal(fired) || !a.EndsAt.Equal(clock) {
		t.Errorf("alert of the resolve = %+v; want resolved at %v, started %v", a, clock, fired)
	}
	node, rs, checks := e.status()
	if node.Name != "node-1" || node.Role != "backup" || len(rs) != 1 || rs[0].Phase != rules.Inactive.String() || !checks["marker"].OK {
		t.Errorf("status = %+v %+v %+v", node, rs, checks)
	}
	e.runner.Stop()
	e.close()
}

// TestEngine_RuntimeErrorReportedOnce: a condition that fails at run time
// is logged once when it starts failing, not at every tick, and
// /v1/status marks the rule as erroring.
func TestEngine_RuntimeErrorReportedOnce(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker.json")
	if err := os.WriteFile(marker, []byte(`{"state": "ok"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
` + opsPreamble(filepath.Join(dir, "data")) + `check "marker" {
  file = "` + marker + `"
  json = true
}
rule "broken" {
  when    = check.marker.json.state == "bad"
  notify  = [contact.ops]
  subject = "x"
}
`
	cfg := loadSource(t, src)
	var logs strings.Builder
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	})})
	e, err := New(cfg, logger, &recordingNotifier{}, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The marker has no "state" attribute once it holds a list: the
	// condition cannot be evaluated.
	if err := os.WriteFile(marker, []byte(`[1, 2]`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runner.Start(ctx)
	defer func() { e.runner.Stop(); e.close() }()
	if err := e.runner.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e.Evaluate(ctx, cfg.Rules[0])
	}
	mu.Lock()
	n := strings.Count(logs.String(), "rule cannot be evaluated")
	mu.Unlock()
	if n != 1 {
		t.Errorf("the error was logged %d times in 3 ticks, want once:\n%s", n, logs.String())
	}
	_, rs, _ := e.status()
	if len(rs) != 1 || rs[0].Error == "" || !strings.Contains(rs[0].Error, "a.hcl:") {
		t.Errorf("status does not mark the rule as erroring: %+v", rs)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestEngine_OutboxCountedOnlyForRulesThatReadIt: counting the outbox
// scans its index, so the engine asks for the variable outbox only when
// the rule's condition or templates read it.
func TestEngine_OutboxCountedOnlyForRulesThatReadIt(t *testing.T) {
	src := `
` + opsPreamble(t.TempDir()) + `rule "plain" {
  when    = true
  notify  = [contact.ops]
  subject = "plain on ${agent.node}"
}
rule "in_condition" {
  when    = outbox.pending > 0
  notify  = [contact.ops]
  subject = "queue"
}
rule "in_template" {
  when    = true
  notify  = [contact.ops]
  subject = "dead letters: ${outbox.dead}"
}
`
	cfg := loadSource(t, src)
	eng, err := New(cfg, hclog.NewNullLogger(), &recordingNotifier{}, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.close)
	var counted []string
	var current string
	eng.outbox = func() rules.OutboxFact {
		counted = append(counted, current)
		return rules.OutboxFact{Pending: 1, Dead: 2}
	}
	for _, r := range cfg.Rules {
		current = r.Name
		eng.Evaluate(context.Background(), r)
	}
	if got := strings.Join(counted, ","); got != "in_condition,in_template" {
		t.Errorf("outbox counted for %q, want in_condition,in_template", got)
	}
	for _, r := range cfg.Rules {
		if rec := eng.lastEval[r.Name]; rec.Err != "" {
			t.Errorf("rule %s: %s", r.Name, rec.Err)
		}
	}
}

// TestNodeStatus_ListsAreNeverNull: /v1/status serves shared_ips and
// test_ips as [] when the node block leaves them out, as the rule
// library's README promises, never as null.
func TestNodeStatus_ListsAreNeverNull(t *testing.T) {
	for _, tt := range []struct {
		name string
		node map[string]cty.Value
		want string
	}{
		{"absent", map[string]cty.Value{"role": cty.StringVal("backup")}, `"shared_ips":[],"test_ips":[]`},
		{"null", map[string]cty.Value{"shared_ips": cty.NullVal(cty.List(cty.String)), "test_ips": cty.NullVal(cty.DynamicPseudoType)}, `"shared_ips":[],"test_ips":[]`},
		{"empty tuple", map[string]cty.Value{"shared_ips": cty.EmptyTupleVal, "test_ips": cty.ListValEmpty(cty.String)}, `"shared_ips":[],"test_ips":[]`},
		{"given", map[string]cty.Value{"shared_ips": cty.TupleVal([]cty.Value{cty.StringVal("10.0.0.5")}), "test_ips": cty.ListVal([]cty.Value{cty.StringVal("192.0.2.254")})}, `"shared_ips":["10.0.0.5"],"test_ips":["192.0.2.254"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(nodeStatus("node-1", tt.node))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s, want %s in it", b, tt.want)
			}
		})
	}
}

// TestEngine_RulesSharingAScheduleShareATick: one tick per schedule
// evaluates all its rules over one snapshot, counts the outbox once for
// them, and hands their notifications over in one call with a mark per
// notifying rule.
func TestEngine_RulesSharingAScheduleShareATick(t *testing.T) {
	src := `
` + opsPreamble(t.TempDir()) + `rule "a" {
  schedule = "@every 10s"
  when     = true
  notify   = [contact.ops]
  subject  = "x"
}
rule "b" {
  schedule = "@every 10s"
  when     = outbox.pending > 0
  notify   = [contact.ops]
  subject  = "x"
}
rule "quiet" {
  schedule = "@every 10s"
  when     = false
  notify   = [contact.ops]
  subject  = "x"
}
rule "c" {
  schedule = "@every 1m"
  when     = true
  notify   = [contact.ops]
  subject  = "x"
}
`
	cfg := loadSource(t, src)
	n := &recordingNotifier{}
	eng, err := New(cfg, hclog.NewNullLogger(), n, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.close)
	if len(eng.groups) != 2 || len(eng.groups[0].rules) != 3 || !eng.groups[0].readsOutbox || len(eng.groups[1].rules) != 1 || eng.groups[1].readsOutbox {
		t.Fatalf("groups: %+v %+v", eng.groups[0], eng.groups[len(eng.groups)-1])
	}
	counted := 0
	eng.outbox = func() rules.OutboxFact {
		counted++
		return rules.OutboxFact{Pending: 1}
	}
	var ticks []time.Duration
	eng.onTick = func(d time.Duration) { ticks = append(ticks, d) }
	eng.since = func(time.Time) time.Duration { return 7 * time.Millisecond }
	g := eng.groups[0]
	eng.tick(context.Background(), g.rules, g.readsOutbox)
	if counted != 1 {
		t.Errorf("the outbox was counted %d times in one tick, want once", counted)
	}
	if n.calls != 1 || len(n.got) != 2 {
		t.Errorf("%d enqueue calls with %d mails, want 1 with 2 (a and b)", n.calls, len(n.got))
	}
	marks, _ := n.Marks()
	if len(marks) != 2 || marks["a"].Seq != 1 || marks["b"].Seq != 1 {
		t.Errorf("marks = %+v, want a and b at Seq 1", marks)
	}
	if len(ticks) != 1 || ticks[0] != 7*time.Millisecond {
		t.Errorf("ticks reported: %v, want one of 7ms", ticks)
	}
	if _, ok := eng.lastEval["c"]; ok {
		t.Error("rule c of the other schedule was evaluated")
	}
}

// TestEngine_ManyRulesEvaluatedInParallel: a tick of more rules than
// parallelMin spreads them over the processors (run with -race); every
// rule gets its own result, in order.
func TestEngine_ManyRulesEvaluatedInParallel(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(opsPreamble(t.TempDir()))
	const n = 3*parallelMin + 7
	for i := range n {
		// Declared in the reverse order of their names.
		fmt.Fprintf(&sb, "rule \"r%04d\" {\n  when = %v\n  notify = [contact.ops]\n  subject = \"${rule.name}\"\n}\n", n-1-i, i%3 == 0)
	}
	cfg := loadSource(t, sb.String())
	rec := &recordingNotifier{}
	eng, err := New(cfg, hclog.NewNullLogger(), rec, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.close)
	g := eng.groups[0]
	eng.tick(context.Background(), g.rules, g.readsOutbox)
	want := map[string]bool{}
	for i := 0; i < n; i += 3 {
		want[fmt.Sprintf("r%04d", n-1-i)] = true
	}
	got := rec.subjects()
	if len(got) != len(want) {
		t.Fatalf("%d notifications, want %d", len(got), len(want))
	}
	for _, s := range got {
		if !want[s] {
			t.Errorf("rule %s notified; it does not hold", s)
		}
	}
	for i, r := range g.rules {
		if st := eng.states[r.Name]; (st.Phase == rules.Firing) != (i%3 == 0) {
			t.Errorf("rule %s: phase %s", r.Name, st.Phase)
		}
	}
	// /v1/status lists every rule once, by name, whatever the order of
	// the configuration.
	_, rs, _ := eng.status()
	if len(rs) != n || !slices.IsSortedFunc(rs, func(a, b RuleStatus) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("status lists %d rules, sorted %v", len(rs), slices.IsSortedFunc(rs, func(a, b RuleStatus) int { return strings.Compare(a.Name, b.Name) }))
	}
}

// TestEngine_StatusRulesFollowTicks: the rules' lines of /v1/status are
// encoded once per change, and every tick's result shows at the next
// request.
func TestEngine_StatusRulesFollowTicks(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	src := `
` + opsPreamble(filepath.Join(dir, "data")) + `check "marker" {
  file = "` + marker + `"
}
rule "present" {
  when    = !check.marker.exists
  notify  = [contact.ops]
  subject = "x"
}
`
	cfg := loadSource(t, src)
	e, err := New(cfg, hclog.NewNullLogger(), &recordingNotifier{}, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.runner.Start(ctx)
	defer func() { e.runner.Stop(); e.close() }()
	if err := e.runner.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	phase := func() (string, []byte) {
		t.Helper()
		b := e.RulesStatusJSON(encodeRules)
		var rs []RuleStatus
		if err := json.Unmarshal(b, &rs); err != nil || len(rs) != 1 {
			t.Fatalf("rules %s: %v", b, err)
		}
		return rs[0].Phase, b
	}
	if p, b := phase(); p != rules.Inactive.String() || strings.Contains(string(b), "last_eval") {
		t.Fatalf("before any tick: %s", b)
	}
	e.Evaluate(ctx, cfg.Rules[0])
	p1, b1 := phase()
	if p1 != rules.Firing.String() || !strings.Contains(string(b1), `"fire"`) {
		t.Fatalf("after the tick that fired: %s", b1)
	}
	if _, b := phase(); &b[0] != &b1[0] {
		t.Error("the rules were encoded again without a change")
	}
	e.Evaluate(ctx, cfg.Rules[0])
	if p, b := phase(); p != rules.Firing.String() || strings.Contains(string(b), `"fire"`) {
		t.Fatalf("the next tick does not show: %s", b)
	}
}

// TestEngine_StatusNodeFromChecks: node facts that read checks are
// served fresh by /v1/status, and static ones without the checks.
func TestEngine_StatusNodeFromChecks(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		role, want string
		reads      bool
	}{
		{`check.marker.exists ? "primary" : "backup"`, "primary", true},
		{`"backup"`, "backup", false},
	} {
		src := `
agent {
  node     = "n1"
  data_dir = "` + filepath.Join(t.TempDir(), "data") + `"
}
node {
  role = ` + tt.role + `
}
check "marker" {
  file = "` + marker + `"
}
`
		cfg := loadSource(t, src)
		e, err := New(cfg, hclog.NewNullLogger(), &recordingNotifier{}, Options{Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		e.runner.Start(ctx)
		if err := e.runner.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		node, checks := e.NodeAndChecks()
		if node.Role != tt.want || !checks["marker"].OK || e.nodeReadsFacts != tt.reads {
			t.Errorf("role = %s: node %+v, checks %+v, reads facts %v", tt.role, node, checks, e.nodeReadsFacts)
		}
		e.runner.Stop()
		e.close()
	}
}

// opsPreamble is the agent block (node-1, data_dir) and the relay
// transport and ops contact that the engine tests' configurations start
// with.
func opsPreamble(dataDir string) string {
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
`
}

// encodeRules encodes the rules' lines of /v1/status for RulesStatusJSON,
// as the agent does (with encoding/json here).
func encodeRules(rs []RuleStatus) []byte {
	b, _ := json.Marshal(rs) // a RuleStatus always encodes
	return b
}

// status returns the node, the rules' lines and the checks of /v1/status,
// as the engine gives them to the agent (which serves the rules' lines
// encoded once per tick, RulesStatusJSON).
func (e *Runner) status() (facts.NodeStatus, []RuleStatus, map[string]CheckStatus) {
	node, checks := e.NodeAndChecks()
	e.mu.Lock()
	defer e.mu.Unlock()
	return node, e.ruleStatusesLocked(), checks
}
