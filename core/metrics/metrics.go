package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
)

// namespace prefixes every metric of the agent's own.
const namespace = "tocsin"

// sendBuckets are the upper bounds, in seconds, of the send latency
// histogram: from a loopback SMTP server (milliseconds) to an HTTP API
// that answers slowly or a batch of many messages (a minute or two).
var sendBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// tickBuckets are the upper bounds, in seconds, of the rule tick
// histogram: from a few rules (well under a millisecond) to thousands of
// rules on a slow machine, and ticks that overrun a 10 s schedule.
var tickBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics holds the agent's collectors in their own registry (not the
// global one). It is safe for concurrent use. The zero value is not
// usable: call New. A nil *Metrics records nothing.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	enqueued                              *prometheus.CounterVec
	sent, retried, fellBack, deadLettered *prometheus.CounterVec
	sendDuration                          *prometheus.HistogramVec
	rules                                 *ruleCollector
	tickDuration                          prometheus.Histogram
	tokenRefreshes                        *prometheus.CounterVec
	storeFailures                         prometheus.Counter

	outbox  *outboxCollector
	plugins *pluginCollector
	states  *stateCollector

	upOnce sync.Once
	up     *upCollector // registered by TransportsUp

	testsOnce sync.Once
	tests     *testCollector // registered by TransportTests
}

// New returns a Metrics with every collector registered, the Go runtime
// and process collectors included.
func New() *Metrics { return newMetrics(prometheus.NewRegistry(), time.Now) }

// newMetrics builds a Metrics on reg; now is the clock for the age of the
// oldest outbox entry. Tests pass a pedantic registry and a fixed clock.
func newMetrics(reg *prometheus.Registry, now func() time.Time) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg: reg,
		enqueued: counter("notifications_enqueued_total",
			"Notifications written to the outbox, by rule and contact.", "rule", "contact"),
		sent: counter("notifications_sent_total",
			"Notifications a transport accepted, by transport and contact.", "transport", "contact"),
		retried: counter("notifications_retried_total",
			"Temporary send failures scheduled for another try on the same transport, by transport and contact.", "transport", "contact"),
		fellBack: counter("notifications_fell_back_total",
			"Notifications moved to the next transport of the contact's via list, by the transport that failed and contact.", "transport", "contact"),
		deadLettered: counter("notifications_dead_lettered_total",
			"Notifications that failed on every transport of the contact and stay in the outbox as dead letters, by the last transport tried and contact.", "transport", "contact"),
		sendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "send_duration_seconds",
			Help:      "Time of the successful Send calls to a transport's plugin (a batch's time for each of its messages), by transport.",
			Buckets:   sendBuckets,
		}, []string{"transport"}),
		rules: newRuleCollector(),
		tickDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "rule_tick_duration_seconds",
			Help:      "Time of each rule tick: one facts snapshot, the evaluation of every rule due at that moment, the hand-off of their notifications to the outbox and the save of their changed states.",
			Buckets:   tickBuckets,
		}),
		tokenRefreshes: counter("token_refreshes_total",
			"Rotated OAuth2 refresh tokens the agent stored, by transport.", "transport"),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "outbox_store_failures_total",
			Help: "Notifications that could not be written to the outbox (a full or failing disk under data_dir); the rule tries again at its next evaluation."}),
		outbox:  newOutboxCollector(now),
		plugins: newPluginCollector(),
		states:  newStateCollector(),
	}
	reg.MustRegister(
		newBuildInfo(buildinfo.Version, buildinfo.GoVersion()),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.enqueued, m.sent, m.retried, m.fellBack, m.deadLettered, m.sendDuration,
		m.rules, m.tickDuration, m.tokenRefreshes, m.storeFailures,
		m.outbox, m.plugins, m.states,
	)
	// ContinueOnError: when the outbox cannot be read, the scrape still
	// gets every other metric; the failure shows as
	// promhttp_metric_handler_errors_total{cause="gathering"} and as the
	// absence of the tocsin_outbox_* series.
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return m
}

// newBuildInfo is tocsin_build_info{version, goversion}, always 1: the
// usual info metric, which a query joins on to tell which build a series
// came from (the version as the build stamped it, git describe's, which
// names the commit).
func newBuildInfo(version, goVersion string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; its labels are the agent's version and the Go release it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// Handler serves /metrics: every collector of m's registry, the Go and
// process collectors and the handler's own promhttp_* metrics, in the
// format the scraper asks for. A nil m serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Enqueued counts a notification of rule to contact written to the
// outbox: tocsin_notifications_enqueued_total{rule, contact}.
func (m *Metrics) Enqueued(rule, contact string) {
	if m == nil {
		return
	}
	m.enqueued.WithLabelValues(label(rule), label(contact)).Inc()
}

// StoreFailed counts n notifications that could not be written to the
// outbox: tocsin_outbox_store_failures_total.
func (m *Metrics) StoreFailed(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.storeFailures.Add(float64(n))
}

// RuleEvaluated counts an evaluation of rule,
// tocsin_rule_evaluations_total, and, when err is true, a failed one,
// tocsin_rule_evaluation_errors_total; tocsin_rule_failing{rule} is 1
// from a failed evaluation until one succeeds.
func (m *Metrics) RuleEvaluated(rule string, err bool) {
	if m == nil {
		return
	}
	m.rules.evaluated(label(rule), err)
}

// RulesConfigured says which rules the configuration has (at start and
// at each reload): tocsin_rule_failing drops the series of any other.
func (m *Metrics) RulesConfigured(names []string) {
	if m == nil {
		return
	}
	valid := make([]string, len(names))
	for i, n := range names {
		valid[i] = label(n)
	}
	m.rules.configured(valid)
}

// RuleTick records the time d of one rule tick (see the engine: the
// evaluation of every rule due at one moment over one facts snapshot):
// tocsin_rule_tick_duration_seconds.
func (m *Metrics) RuleTick(d time.Duration) {
	if m == nil {
		return
	}
	m.tickDuration.Observe(d.Seconds())
}

// TokenRefreshed counts a rotated credential of transport that the agent
// stored: tocsin_token_refreshes_total{transport}. The agent calls it when
// a plugin hands over a new refresh token and it is saved.
func (m *Metrics) TokenRefreshed(transport string) {
	if m == nil {
		return
	}
	m.tokenRefreshes.WithLabelValues(label(transport)).Inc()
}

// label makes s a valid label value: client_golang panics on invalid
// UTF-8, and names come from configuration files and plugins.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
