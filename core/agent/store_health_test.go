package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tocsin-dev/tocsin/core/channelwatch"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// syncBuffer is a log destination safe for concurrent writes.
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

// scrapeStoreFailures reads tocsin_outbox_store_failures_total from m.
func scrapeStoreFailures(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	rec := &responseRecorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	m.Handler().ServeHTTP(rec, req)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&rec.body)
	if err != nil {
		t.Fatal(err)
	}
	f := fams["tocsin_outbox_store_failures_total"]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("no tocsin_outbox_store_failures_total in /metrics")
	}
	return f.GetMetric()[0].GetCounter().GetValue()
}

// responseRecorder is a minimal http.ResponseWriter.
type responseRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(int)             {}

// getJSON GETs url and decodes its JSON answer into v; it returns the
// status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	return resp.StatusCode
}

// TestAgent_DiskFull: with data_dir full (the outbox's commit fault), a
// notification cannot be stored. Before, only an error line said so:
// /healthz said "ok" and no metric moved. Now the failure is counted in
// tocsin_outbox_store_failures_total, /healthz and /v1/status say the
// agent is degraded, with the error and since when, the outbox fact
// gives it to rules, and outbox_store_failing's warning goes out through
// delivery_alert_contact although it cannot be stored. Once a write
// succeeds, all of it clears and the rule resolves.
func TestAgent_DiskFull(t *testing.T) {
	cfg := loadSource(t, strings.ReplaceAll(libraryWithAlert, "%DATA%", t.TempDir()))
	var rule *rules.Rule
	for _, r := range cfg.Rules {
		if r.Name == "outbox_store_failing" {
			rule = r
		}
	}
	if rule == nil {
		t.Fatal("the library declares no outbox_store_failing")
	}
	var full atomic.Bool
	path := filepath.Join(t.TempDir(), OutboxFile)
	enospc := &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	ob, err := outbox.Open(path, outbox.Options{CommitFault: func() error {
		if full.Load() {
			return enospc
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })

	clock := &watchClock{t: time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	relay, graph := accepts("relay-ok"), accepts("graph-ok")
	a := &Agent{
		cfg: cfg, logger: logger, now: clock.now, started: clock.now(),
		outbox: ob, metrics: metrics.New(), deliveries: &deliveryLog{logger: logger},
		transports: upTransports(Transports{
			"relay": {Config: cfg.Transport("relay"), Plugin: relay, Description: &sdk.Description{Name: "fake"}},
			"graph": {Config: cfg.Transport("graph"), Plugin: graph, Description: &sdk.Description{Name: "fake"}},
		}),
	}
	a.watch = channelwatch.New(a.deliveries, ob.Stats, clock.now, logger)
	a.dispatcher = delivery.New(ob, dispatchTransports{a}, policy(cfg.Delivery), a.watch, logger)
	srv, err := server.Listen(logger, "127.0.0.1:0", server.Handlers{Health: a.health, Status: func() any { return a.deliveryStatus() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr()
	ctx := context.Background()

	eng, err := engine.New(cfg, hclog.NewNullLogger(), handoff{a}, engine.Options{Now: clock.now, Outbox: a.watch.Fact})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	a.engine = eng

	heartbeat := func(id string) *outbox.Entry {
		return &outbox.Entry{ID: id, Rule: "daily_heartbeat", Event: "fire", Contact: "ops", Via: []string{"relay", "graph"}, Mail: outbox.Mail{Subject: "heartbeat"}}
	}

	// Healthy: /healthz keeps its contract.
	var h server.Health
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusOK || h.Status != "ok" || len(h.Problems) != 0 {
		t.Fatalf("healthy /healthz = %d %+v", code, h)
	}

	// The disk fills: two notifications of another rule cannot be stored.
	full.Store(true)
	err = a.enqueue(ctx, nil, []*outbox.Entry{heartbeat("1@appliance-b"), heartbeat("2@appliance-b")})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("enqueue on a full disk = %v; want ENOSPC", err)
	}
	if n := scrapeStoreFailures(t, a.metrics); n != 2 {
		t.Errorf("tocsin_outbox_store_failures_total = %v, want 2", n)
	}
	clock.advance(3 * time.Minute)
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusOK || h.Status != "degraded" || len(h.Problems) != 1 ||
		!strings.Contains(h.Problems[0], "notifications cannot be stored in the outbox since 2026-12-05T18:00:00Z (2 not stored)") ||
		!strings.Contains(h.Problems[0], "no space left on device") || !strings.Contains(h.Problems[0], "Free space") {
		t.Errorf("/healthz on a full disk = %d %+v", code, h)
	}
	var st DeliveryStatus
	getJSON(t, base+"/v1/status", &st)
	if sf := st.StoreFailing; sf == nil || sf.Failures != 2 || !sf.Since.Equal(clock.t.Add(-3*time.Minute)) ||
		!strings.Contains(sf.LastError, "no space left on device") || sf.Remedy == "" {
		t.Errorf("/v1/status delivery.store_failing = %+v", st.StoreFailing)
	}
	f := a.watch.Fact()
	if f.StoreFailures != 2 || f.StoreFailingFor != 3*time.Minute || !strings.Contains(f.StoreError, "no space left on device") {
		t.Errorf("outbox fact = %+v", f)
	}
	if got := strings.Count(logs.String(), "notifications cannot be stored in the outbox"); got != 1 {
		t.Errorf("%d error lines for the start of the failure, want 1:\n%s", got, logs)
	}

	// The library rule fires; its warning cannot be stored either, and
	// goes out through ops_fallback's transport at once.
	eng.Evaluate(ctx, rule)
	sent := graph.messages()
	if len(sent) != 1 || !strings.HasPrefix(sent[0].Subject, "appliance-b: notifications cannot be stored: ") ||
		sent[0].To[0].Address != "ops@example.net" || !strings.Contains(sent[0].Text, "3m. The last error:") {
		t.Fatalf("graph sent %d messages: %+v", len(sent), sent)
	}
	if len(relay.messages()) != 0 {
		t.Error("relay sent something")
	}
	if p := rulePhase(eng, rule.Name); p != rules.Firing.String() {
		t.Errorf("the rule's phase = %q, want firing (its warning went out)", p)
	}
	if n := scrapeStoreFailures(t, a.metrics); n != 3 {
		t.Errorf("tocsin_outbox_store_failures_total = %v, want 3 (the warning was not stored either)", n)
	}
	// It does not go out again at the next evaluation.
	clock.advance(time.Minute)
	eng.Evaluate(ctx, rule)
	if len(graph.messages()) != 1 {
		t.Errorf("the warning went out again: %d", len(graph.messages()))
	}

	// Space is freed: the next write clears everything, the rule
	// resolves through the outbox.
	full.Store(false)
	if err := a.enqueue(ctx, nil, []*outbox.Entry{heartbeat("1@appliance-b")}); err != nil {
		t.Fatal(err)
	}
	h = server.Health{}
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusOK || h.Status != "ok" || len(h.Problems) != 0 {
		t.Errorf("/healthz after space was freed = %d %+v", code, h)
	}
	st = DeliveryStatus{}
	getJSON(t, base+"/v1/status", &st)
	if st.StoreFailing != nil {
		t.Errorf("/v1/status after space was freed: store_failing = %+v", st.StoreFailing)
	}
	if f := a.watch.Fact(); f.StoreFailures != 0 || f.StoreError != "" || f.StoreFailingFor != 0 {
		t.Errorf("outbox fact after space was freed = %+v", f)
	}
	eng.Evaluate(ctx, rule)
	pending, err := ob.List(outbox.Pending)
	if err != nil {
		t.Fatal(err)
	}
	var resolved bool
	for _, e := range pending {
		resolved = resolved || (e.Rule == rule.Name && e.Event == "resolve")
	}
	if !resolved || len(pending) != 2 {
		t.Errorf("after space was freed the outbox holds %d entries (resolve stored: %v)", len(pending), resolved)
	}
	if !strings.Contains(logs.String(), "notifications are stored in the outbox again") {
		t.Errorf("no log line for the end of the failure:\n%s", logs)
	}
}

// When the warning can neither be stored nor sent, the rule keeps its
// state and tries again at its next evaluation, like any store failure.
func TestAgent_DiskFullWarningNotSent(t *testing.T) {
	cfg := loadSource(t, strings.ReplaceAll(libraryWithAlert, "%DATA%", t.TempDir()))
	var rule *rules.Rule
	for _, r := range cfg.Rules {
		if r.Name == "outbox_store_failing" {
			rule = r
		}
	}
	ob, err := outbox.Open(filepath.Join(t.TempDir(), OutboxFile), outbox.Options{CommitFault: func() error {
		return &fs.PathError{Op: "write", Path: "outbox.db", Err: syscall.ENOSPC}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	clock := &watchClock{t: time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)}
	graph := failsEach(sdk.TemporaryError(errors.New("421 try later"), "421", ""))
	a := &Agent{
		cfg: cfg, logger: hclog.NewNullLogger(), now: clock.now, outbox: ob, metrics: metrics.New(),
		transports: upTransports(Transports{"graph": {Config: cfg.Transport("graph"), Plugin: graph, Description: &sdk.Description{Name: "fake"}}}),
	}
	a.watch = channelwatch.New(nil, ob.Stats, clock.now, nil)
	a.dispatcher = delivery.New(ob, dispatchTransports{a}, policy(cfg.Delivery), a.watch, nil)
	eng, err := engine.New(cfg, hclog.NewNullLogger(), handoff{a}, engine.Options{Now: clock.now, Outbox: a.watch.Fact})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })

	a.storeFailed(1, errors.New("write outbox.db: no space left on device"))
	eng.Evaluate(context.Background(), rule)
	if len(graph.messages()) != 1 {
		t.Fatalf("graph was tried %d times, want 1", len(graph.messages()))
	}
	if rulePhase(eng, rule.Name) == rules.Firing.String() {
		t.Fatal("the rule is firing although its warning went nowhere")
	}
	clock.advance(time.Minute)
	eng.Evaluate(context.Background(), rule)
	if len(graph.messages()) != 2 {
		t.Fatalf("the next evaluation did not try again: %d attempts", len(graph.messages()))
	}
	if eng.DeliveryFailures() != 2 {
		t.Errorf("delivery failures = %d, want 2", eng.DeliveryFailures())
	}
}

// rulePhase is the phase of rule name as /v1/status lists it; "" when
// it lists no such rule.
func rulePhase(eng *engine.Runner, name string) string {
	for _, r := range eng.RuleStatuses() {
		if r.Name == name {
			return r.Phase
		}
	}
	return ""
}
