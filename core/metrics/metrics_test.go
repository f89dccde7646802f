package metrics

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// drive calls every recording method of m a known number of times.
func drive(m *Metrics) {
	m.Enqueued("disk_full", "dba")
	m.Enqueued("disk_full", "dba")
	m.Enqueued("disk_full", "ops")
	m.Enqueued("ping_lost", "ops")

	obs := m.Observer(nil)
	dba := &outbox.Entry{ID: "a@tocsin", Rule: "disk_full", Contact: "dba", Via: []string{"graph", "smtp-backup"}}
	ops := &outbox.Entry{ID: "b@tocsin", Rule: "ping_lost", Contact: "ops", Via: []string{"graph"}}
	temp := sdk.TemporaryError(errors.New("451 try later"), "451", "")
	perm := sdk.PermanentError(errors.New("535 authentication failed"), "535", "Check the app password.")
	obs.Sent(dba, "graph", "r1", 30*time.Millisecond)
	obs.Sent(dba, "graph", "r2", 700*time.Millisecond)
	obs.Sent(ops, "graph", "r3", 3*time.Second)
	obs.Sent(dba, "smtp-backup", "r4", 20*time.Millisecond)
	obs.Retried(dba, "graph", temp, t0.Add(time.Minute))
	obs.Retried(dba, "graph", temp, t0.Add(2*time.Minute))
	obs.FellBack(dba, "graph", "smtp-backup", perm)
	ops.Last = &outbox.Attempt{Transport: "graph", Error: perm.Error()}
	ops.Hop = 1
	obs.DeadLettered(ops, perm)

	m.RuleEvaluated("disk_full", false)
	m.RuleEvaluated("disk_full", true)
	m.RuleEvaluated("disk_full", false)
	m.RuleEvaluated("ping_lost", false)

	m.TokenRefreshed("graph")
	m.TokenRefreshed("graph")
	m.TokenRefreshed("gmail")

	m.States(func() []RuleState { return []RuleState{{Name: "disk_full", Severity: "warning", Phase: "firing"}} },
		func() []CheckState {
			return []CheckState{{Name: "portal", Kind: "http", Up: true, Duration: time.Second}, {Name: "primary", Kind: "peer", Peer: true, Up: true}}
		})

	m.StoreFailed(3)
	m.StoreFailed(0)
	m.StoreFailed(2)

	m.Outbox(func() (outbox.Stats, error) {
		return outbox.Stats{Pending: 7, Dead: 2, OldestPending: t0.Add(-90 * time.Second)}, nil
	})
	m.PluginStarts(func() map[string]int { return map[string]int{"graph": 1, "smtp-backup": 3} })
}

func TestMetrics_Handler(t *testing.T) {
	m, url := newTest(t)
	drive(m)
	f := scrape(t, url)

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tocsin_notifications_enqueued_total", l("rule", "disk_full", "contact", "dba"), 2},
		{"tocsin_notifications_enqueued_total", l("rule", "disk_full", "contact", "ops"), 1},
		{"tocsin_notifications_enqueued_total", l("rule", "ping_lost", "contact", "ops"), 1},
		{"tocsin_notifications_sent_total", l("transport", "graph", "contact", "dba"), 2},
		{"tocsin_notifications_sent_total", l("transport", "graph", "contact", "ops"), 1},
		{"tocsin_notifications_sent_total", l("transport", "smtp-backup", "contact", "dba"), 1},
		{"tocsin_notifications_retried_total", l("transport", "graph", "contact", "dba"), 2},
		{"tocsin_notifications_retried_total", l("transport", "graph", "contact", "ops"), 0},
		{"tocsin_notifications_fell_back_total", l("transport", "graph", "contact", "dba"), 1},
		{"tocsin_notifications_fell_back_total", l("transport", "smtp-backup", "contact", "dba"), 0},
		{"tocsin_notifications_dead_lettered_total", l("transport", "graph", "contact", "ops"), 1},
		{"tocsin_notifications_dead_lettered_total", l("transport", "graph", "contact", "dba"), 0},
		{"tocsin_rule_evaluations_total", l(), 4},
		{"tocsin_rule_evaluation_errors_total", l(), 1},
		{"tocsin_token_refreshes_total", l("transport", "graph"), 2},
		{"tocsin_token_refreshes_total", l("transport", "gmail"), 1},
		{"tocsin_outbox_store_failures_total", l(), 5},
		{"tocsin_outbox_pending", l(), 7},
		{"tocsin_outbox_dead", l(), 2},
		{"tocsin_outbox_oldest_pending_age_seconds", l(), 90},
		{"tocsin_plugin_starts_total", l("transport", "graph"), 1},
		{"tocsin_plugin_starts_total", l("transport", "smtp-backup"), 3},
	}
	for _, tt := range tests {
		if got := f.value(t, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	// Exactly the series driven, no stray label combination.
	counts := map[string]int{
		"tocsin_notifications_enqueued_total":      3,
		"tocsin_notifications_sent_total":          3,
		"tocsin_notifications_retried_total":       3,
		"tocsin_notifications_fell_back_total":     3,
		"tocsin_notifications_dead_lettered_total": 3,
		"tocsin_rule_evaluations_total":            1,
		"tocsin_rule_evaluation_errors_total":      1,
		"tocsin_rule_failing":                      0, // disk_full evaluated again after its failure
		"tocsin_token_refreshes_total":             2,
		"tocsin_plugin_starts_total":               2,
		"tocsin_send_duration_seconds":             2,
	}
	for name, n := range counts {
		if got := len(f[name].GetMetric()); got != n {
			t.Errorf("%s has %d series, want %d: %s", name, got, n, f.series(name))
		}
	}

	// The latency histogram: graph sent in 30ms, 700ms and 3s.
	h := f.find("tocsin_send_duration_seconds", l("transport", "graph"))
	if h == nil || f["tocsin_send_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no histogram tocsin_send_duration_seconds{transport=graph}: %s", f.series("tocsin_send_duration_seconds"))
	}
	if got := h.GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("graph send count = %d, want 3", got)
	}
	if got, want := h.GetHistogram().GetSampleSum(), 3.73; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("graph send sum = %v, want %v", got, want)
	}
	cumulative := map[float64]uint64{0.025: 0, 0.05: 1, 0.5: 1, 1: 2, 2.5: 2, 5: 3, 120: 3}
	for _, b := range h.GetHistogram().GetBucket() {
		if want, ok := cumulative[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("graph send bucket le=%v = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	// The Go and process collectors, and the handler's own counters.
	want := []string{"go_goroutines", "go_memstats_alloc_bytes", "promhttp_metric_handler_requests_total"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_start_time_seconds", "process_open_fds")
	}
	for _, name := range want {
		if f[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
}

func TestMetrics_Lint(t *testing.T) {
	m, _ := newTest(t)
	drive(m)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var ours []*dto.MetricFamily
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), namespace+"_") {
			ours = append(ours, f)
		}
	}
	if len(ours) != 20 {
		t.Errorf("gathered %d tocsin families, want 20", len(ours))
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

func TestMetrics_RuleEvaluated(t *testing.T) {
	tests := []struct {
		name      string
		errs      []bool
		wantEvals float64
		wantErrs  float64
		failing   bool
	}{
		{"one success", []bool{false}, 1, 0, false},
		{"one failure", []bool{true}, 1, 1, true},
		{"fails, then evaluates", []bool{false, true, true, false}, 4, 2, false},
		{"evaluates, then fails", []bool{false, true, false, false, true}, 5, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := newTest(t)
			for _, e := range tt.errs {
				m.RuleEvaluated("cert_expiry", e)
			}
			m.RuleEvaluated("other", false)
			f := scrape(t, url)
			if got := f.value(t, "tocsin_rule_evaluations_total", l()); got != tt.wantEvals+1 {
				t.Errorf("evaluations = %v, want %v", got, tt.wantEvals+1)
			}
			if got := f.value(t, "tocsin_rule_evaluation_errors_total", l()); got != tt.wantErrs {
				t.Errorf("errors = %v, want %v", got, tt.wantErrs)
			}
			want := 0
			if tt.failing {
				want = 1
				if got := f.value(t, "tocsin_rule_failing", l("rule", "cert_expiry")); got != 1 {
					t.Errorf("failing = %v, want 1", got)
				}
			}
			if got := len(f["tocsin_rule_failing"].GetMetric()); got != want {
				t.Errorf("tocsin_rule_failing has %d series, want %d: %s", got, want, f.series("tocsin_rule_failing"))
			}
		})
	}
}

// TestMetrics_RulesConfigured: a failing rule that a reload removed has
// no series any more; one that stays keeps it.
func TestMetrics_RulesConfigured(t *testing.T) {
	m, url := newTest(t)
	m.RuleEvaluated("removed", true)
	m.RuleEvaluated("kept", true)
	m.RulesConfigured([]string{"kept", "new"})
	f := scrape(t, url)
	if got := f.series("tocsin_rule_failing"); len(f["tocsin_rule_failing"].GetMetric()) != 1 || f.value(t, "tocsin_rule_failing", l("rule", "kept")) != 1 {
		t.Errorf("tocsin_rule_failing after the reload: %s, want kept alone", got)
	}
	var nilMetrics *Metrics
	nilMetrics.RulesConfigured([]string{"x"})
}

// TestNew_OwnRegistry checks that each Metrics counts on its own and
// leaves client_golang's global registry alone.
func TestNew_OwnRegistry(t *testing.T) {
	a, b := New(), New()
	a.TokenRefreshed("graph")
	srvA, srvB := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer srvA.Close()
	defer srvB.Close()
	if got := scrape(t, srvA.URL).value(t, "tocsin_token_refreshes_total", l("transport", "graph")); got != 1 {
		t.Errorf("a: token refreshes = %v, want 1", got)
	}
	if f := scrape(t, srvB.URL); f["tocsin_token_refreshes_total"] != nil {
		t.Errorf("b has a's counter: %s", f.series("tocsin_token_refreshes_total"))
	}
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), namespace+"_") {
			t.Errorf("%s is in the global registry", f.GetName())
		}
	}
}

// TestMetrics_InvalidUTF8 checks that names with invalid UTF-8 (which
// client_golang refuses with a panic) are counted, not fatal.
func TestMetrics_InvalidUTF8(t *testing.T) {
	m, url := newTest(t)
	bad := "gr\xffaph"
	m.Enqueued(bad, bad)
	m.RuleEvaluated(bad, true)
	m.TokenRefreshed(bad)
	m.Observer(nil).Sent(&outbox.Entry{Contact: bad}, bad, "", time.Millisecond)
	m.PluginStarts(func() map[string]int { return map[string]int{bad: 2} })
	f := scrape(t, url)
	fixed := "gr\uFFFDaph"
	if got := f.value(t, "tocsin_notifications_sent_total", l("transport", fixed, "contact", fixed)); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if got := f.value(t, "tocsin_plugin_starts_total", l("transport", fixed)); got != 2 {
		t.Errorf("plugin starts = %v, want 2", got)
	}
}

// TestMetrics_Nil checks that a nil *Metrics records nothing and does not
// panic, so an agent without metrics can call it unconditionally.
func TestMetrics_Nil(t *testing.T) {
	var m *Metrics
	m.Enqueued("r", "c")
	m.RuleEvaluated("r", true)
	m.TokenRefreshed("t")
	m.Outbox(func() (outbox.Stats, error) { return outbox.Stats{}, nil })
	m.PluginStarts(func() map[string]int { return nil })

	if _, ok := m.Observer(nil).(delivery.NopObserver); !ok {
		t.Errorf("nil.Observer(nil) = %T, want delivery.NopObserver", m.Observer(nil))
	}
	next := &recorder{}
	if got := m.Observer(next); got != next {
		t.Errorf("nil.Observer(next) = %T, want next itself", got)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil.Handler() answered %d, want 404", rec.Code)
	}
}

func TestMetrics_RuleTick(t *testing.T) {
	m, url := newTest(t)
	for _, d := range []time.Duration{3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second} {
		m.RuleTick(d)
	}
	f := scrape(t, url)
	h := f.find("tocsin_rule_tick_duration_seconds", l())
	if h == nil || f["tocsin_rule_tick_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no histogram tocsin_rule_tick_duration_seconds: %s", f.series("tocsin_rule_tick_duration_seconds"))
	}
	if got := h.GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("ticks = %d, want 3", got)
	}
	cumulative := map[float64]uint64{0.001: 0, 0.005: 1, 0.05: 2, 1: 2, 2.5: 3}
	for _, b := range h.GetHistogram().GetBucket() {
		if want, ok := cumulative[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	var nilM *Metrics
	nilM.RuleTick(time.Second) // records nothing, does not panic
}

func TestMetrics_BuildInfo(t *testing.T) {
	_, url := newTest(t)
	f := scrape(t, url)
	want := l("version", buildinfo.Version, "goversion", runtime.Version())
	if got := f.value(t, "tocsin_build_info", want); got != 1 {
		t.Errorf("tocsin_build_info%v = %v, want 1", want, got)
	}
	if fam := f["tocsin_build_info"]; fam.GetType() != dto.MetricType_GAUGE || len(fam.GetMetric()) != 1 {
		t.Errorf("tocsin_build_info: type %v, %d series; want one gauge: %s", fam.GetType(), len(fam.GetMetric()), f.series("tocsin_build_info"))
	}
}

func TestNewBuildInfo_Labels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newBuildInfo("v1.2.3-4-gabcdef0", "go1.99"))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if len(fams) != 1 || len(fams[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one family of one series", fams)
	}
	got := map[string]string{}
	for _, lp := range fams[0].GetMetric()[0].GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	if want := l("version", "v1.2.3-4-gabcdef0", "goversion", "go1.99"); !maps.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	if v := fams[0].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("value = %v, want 1", v)
	}
}
