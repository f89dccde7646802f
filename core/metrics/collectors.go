package metrics

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsin-dev/tocsin/core/outbox"
)

// Outbox has the outbox gauges read from stats at each scrape:
//
//	tocsin_outbox_pending                     pending entries
//	tocsin_outbox_dead                        dead letters
//	tocsin_outbox_oldest_pending_age_seconds  age of the oldest pending entry, 0 if none
//
// stats is called once per scrape, from the scraping goroutine; it must
// be safe for concurrent use (outbox.Outbox.Stats is). Until Outbox is
// called the gauges are absent. A later call replaces stats (after a
// reload, say); a nil stats removes the gauges. When stats fails, the
// scrape carries every other metric, the gauges are absent and
// promhttp_metric_handler_errors_total{cause="gathering"} counts it.
func (m *Metrics) Outbox(stats func() (outbox.Stats, error)) {
	if m == nil {
		return
	}
	m.outbox.set(stats)
}

// PluginStarts has tocsin_plugin_starts_total{transport}, the number of
// times each transport's plugin process was started (the first start
// included, so restarts are the value minus one), read from starts at
// each scrape (the agent maps each transport to its
// pluginhost.Instance.Starts()). starts must be safe to call concurrently
// with the agent's work. A later call replaces starts; a nil starts
// removes the series.
func (m *Metrics) PluginStarts(starts func() map[string]int) {
	if m == nil {
		return
	}
	m.plugins.set(starts)
}

// outboxCollector reads the outbox's counts at scrape time.
type outboxCollector struct {
	now                      func() time.Time
	pending, dead, oldestAge *prometheus.Desc

	mu    sync.Mutex
	stats func() (outbox.Stats, error)
}

func newOutboxCollector(now func() time.Time) *outboxCollector {
	return &outboxCollector{
		now: now,
		pending: prometheus.NewDesc(prometheus.BuildFQName(namespace, "outbox", "pending"),
			"Notifications in the outbox waiting to be sent.", nil, nil),
		dead: prometheus.NewDesc(prometheus.BuildFQName(namespace, "outbox", "dead"),
			"Dead letters in the outbox: notifications that failed on every transport of their contact.", nil, nil),
		oldestAge: prometheus.NewDesc(prometheus.BuildFQName(namespace, "outbox", "oldest_pending_age_seconds"),
			"Age of the oldest pending notification (since it was enqueued), 0 when none is pending.", nil, nil),
	}
}

func (c *outboxCollector) set(stats func() (outbox.Stats, error)) {
	c.mu.Lock()
	c.stats = stats
	c.mu.Unlock()
}

// Describe sends the three gauges' descriptions.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dead
	ch <- c.oldestAge
}

// Collect reads the stats once and sends the gauges.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	stats := c.stats
	c.mu.Unlock()
	if stats == nil {
		return
	}
	st, err := stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, fmt.Errorf("read outbox stats: %w", err))
		return
	}
	var age float64
	if !st.OldestPending.IsZero() {
		// A clock set back leaves the oldest entry in the future: 0.
		age = max(c.now().Sub(st.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.Dead))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age)
}

// pluginCollector reads the plugin start counts at scrape time.
type pluginCollector struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	starts func() map[string]int
}

func newPluginCollector() *pluginCollector {
	return &pluginCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "plugin", "starts_total"),
			"Times the transport's plugin process was started, the first start included.", []string{"transport"}, nil),
	}
}

func (c *pluginCollector) set(starts func() map[string]int) {
	c.mu.Lock()
	c.starts = starts
	c.mu.Unlock()
}

// Describe sends the counter's description.
func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect reads the start counts and sends one counter per transport.
func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	starts := c.starts
	c.mu.Unlock()
	if starts == nil {
		return
	}
	for transport, n := range starts() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), label(transport))
	}
}

// ruleCollector serves the rule evaluation metrics:
//
//   - tocsin_rule_evaluations_total and
//     tocsin_rule_evaluation_errors_total, over all rules;
//   - tocsin_rule_failing{rule}, 1 for each rule whose last evaluation
//     failed, and no series for the rules that evaluate.
//
// Counters per rule, as before, made two series of every rule: with
// 10,000 rules 20,000 series, which cost about 40 ms of CPU at each
// scrape, 10 MB of memory, and as much again in the Prometheus server,
// to say mostly that every rule was evaluated at every tick. Prometheus
// itself counts rule evaluations per group, not per rule; which rules
// fail is what an operator needs by name, and /v1/status gives their
// errors.
type ruleCollector struct {
	evalsDesc, errsDesc, failingDesc *prometheus.Desc

	evals, errs atomic.Uint64

	mu      sync.RWMutex
	failing map[string]bool
}

func newRuleCollector() *ruleCollector {
	return &ruleCollector{
		evalsDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "evaluations_total"),
			"Rule evaluations, all rules together.", nil, nil),
		errsDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "evaluation_errors_total"),
			"Rule evaluations that failed, all rules together.", nil, nil),
		failingDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "failing"),
			"1 for each rule whose last evaluation failed (GET /v1/status says why); rules that evaluate have no series.", []string{"rule"}, nil),
		failing: map[string]bool{},
	}
}

// evaluated counts an evaluation of rule, failed when err is true.
func (c *ruleCollector) evaluated(rule string, err bool) {
	c.evals.Add(1)
	if err {
		c.errs.Add(1)
	}
	c.mu.RLock()
	was := c.failing[rule]
	c.mu.RUnlock()
	if was == err {
		return
	}
	c.mu.Lock()
	if err {
		c.failing[rule] = true
	} else {
		delete(c.failing, rule)
	}
	c.mu.Unlock()
}

// configured forgets the failing rules that are not in names: a rule
// removed or renamed by a reload.
func (c *ruleCollector) configured(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for rule := range c.failing {
		if !keep[rule] {
			delete(c.failing, rule)
		}
	}
}

// Describe sends the three descriptions.
func (c *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.evalsDesc
	ch <- c.errsDesc
	ch <- c.failingDesc
}

// Collect sends the two counters and a gauge for each failing rule.
func (c *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.evalsDesc, prometheus.CounterValue, float64(c.evals.Load()))
	ch <- prometheus.MustNewConstMetric(c.errsDesc, prometheus.CounterValue, float64(c.errs.Load()))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for rule := range c.failing {
		ch <- prometheus.MustNewConstMetric(c.failingDesc, prometheus.GaugeValue, 1, rule)
	}
}
