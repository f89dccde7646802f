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

// ruleCollector serves tocsin_rule_evaluations_total{rule} and
// tocsin_rule_evaluation_errors_total{rule} from two integers per rule.
// A CounterVec keeps, for each series, its label pairs, hash and metric:
// about 1 KB for a rule's two series, 10 MB that stay in memory for a
// configuration of 10,000 rules, for numbers read once per scrape.
type ruleCollector struct {
	evals, errs *prometheus.Desc

	mu    sync.RWMutex
	rules map[string]*ruleCounts
}

// ruleCounts are one rule's evaluations and failed evaluations.
type ruleCounts struct{ evals, errs atomic.Uint64 }

func newRuleCollector() *ruleCollector {
	return &ruleCollector{
		evals: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "evaluations_total"),
			"Rule evaluations, by rule.", []string{"rule"}, nil),
		errs: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "evaluation_errors_total"),
			"Rule evaluations that failed, by rule.", []string{"rule"}, nil),
		rules: map[string]*ruleCounts{},
	}
}

// evaluated counts an evaluation of rule, failed when err is true.
func (c *ruleCollector) evaluated(rule string, err bool) {
	c.mu.RLock()
	rc := c.rules[rule]
	c.mu.RUnlock()
	if rc == nil {
		c.mu.Lock()
		if rc = c.rules[rule]; rc == nil {
			rc = &ruleCounts{}
			c.rules[rule] = rc
		}
		c.mu.Unlock()
	}
	rc.evals.Add(1)
	if err {
		rc.errs.Add(1)
	}
}

// Describe sends the two counters' descriptions.
func (c *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.evals
	ch <- c.errs
}

// Collect sends both counters of every rule evaluated so far.
func (c *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for rule, rc := range c.rules {
		ch <- prometheus.MustNewConstMetric(c.evals, prometheus.CounterValue, float64(rc.evals.Load()), rule)
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(rc.errs.Load()), rule)
	}
}
