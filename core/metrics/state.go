package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RuleState is a rule as tocsin_rule_state shows it.
type RuleState struct {
	// Name and Severity are the rule's.
	Name, Severity string
	// Phase is "inactive", "pending" or "firing".
	Phase string
}

// CheckState is a check's or a peer's last run, as tocsin_check_up,
// tocsin_check_duration_seconds and tocsin_peer_up show it.
type CheckState struct {
	// Name is the check's or the peer's name; Kind the check's kind
	// ("tcp", "file", ...).
	Name, Kind string
	// Peer is set for a peer: its series is tocsin_peer_up.
	Peer bool
	// Up is whether its last run succeeded (the fact's ok).
	Up bool
	// Duration is how long its last run took.
	Duration time.Duration
}

// RulePhases are the phases in the order of tocsin_rule_state's values:
// 0 inactive, 1 pending, 2 firing. One series a rule, not one a phase: an
// agent with 10,000 rules serves 10,000, and `tocsin_rule_state == 2` is
// what is firing.
var RulePhases = []string{"inactive", "pending", "firing"}

// States has the gauges a fleet's Prometheus alerts on, read at each
// scrape:
//
//	tocsin_rule_state{rule,severity}              0 inactive, 1 pending, 2 firing
//	tocsin_check_up{check,kind}                   1 when the check's last run succeeded
//	tocsin_check_duration_seconds{check,kind}     how long that run took
//	tocsin_peer_up{peer}                          1 when the last read of the peer succeeded
//
// rules and checks are called once per scrape, from the scraping
// goroutine, and must be safe for concurrent use with the agent's work.
// A check or peer that has not run yet has no series. A later call
// replaces the functions (a reload builds a new engine); nil removes the
// series.
func (m *Metrics) States(rules func() []RuleState, checks func() []CheckState) {
	if m == nil {
		return
	}
	m.states.set(rules, checks)
}

// stateCollector reads the rules' and checks' states at scrape time.
type stateCollector struct {
	rule, checkUp, checkDuration, peerUp *prometheus.Desc

	mu     sync.Mutex
	rules  func() []RuleState
	checks func() []CheckState
}

func newStateCollector() *stateCollector {
	return &stateCollector{
		rule: prometheus.NewDesc(prometheus.BuildFQName(namespace, "rule", "state"),
			"The phase each rule is in: 0 inactive, 1 pending, 2 firing.", []string{"rule", "severity"}, nil),
		checkUp: prometheus.NewDesc(prometheus.BuildFQName(namespace, "check", "up"),
			"1 when the check's last run succeeded (its fact's ok), 0 when it failed.", []string{"check", "kind"}, nil),
		checkDuration: prometheus.NewDesc(prometheus.BuildFQName(namespace, "check", "duration_seconds"),
			"How long the check's last run took.", []string{"check", "kind"}, nil),
		peerUp: prometheus.NewDesc(prometheus.BuildFQName(namespace, "peer", "up"),
			"1 when the last read of the partner agent's status succeeded, 0 when it failed.", []string{"peer"}, nil),
	}
}

func (c *stateCollector) set(rules func() []RuleState, checks func() []CheckState) {
	c.mu.Lock()
	c.rules, c.checks = rules, checks
	c.mu.Unlock()
}

// Describe sends the four gauges' descriptions.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rule
	ch <- c.checkUp
	ch <- c.checkDuration
	ch <- c.peerUp
}

// Collect reads the states once and sends the gauges.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	rules, checks := c.rules, c.checks
	c.mu.Unlock()
	if rules != nil {
		for _, r := range rules() {
			phase := slices.Index(RulePhases, r.Phase)
			if phase < 0 {
				continue // no phase of the three: no value to give
			}
			ch <- prometheus.MustNewConstMetric(c.rule, prometheus.GaugeValue, float64(phase), r.Name, r.Severity)
		}
	}
	if checks != nil {
		for _, k := range checks() {
			if k.Peer {
				ch <- prometheus.MustNewConstMetric(c.peerUp, prometheus.GaugeValue, boolValue(k.Up), k.Name)
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.checkUp, prometheus.GaugeValue, boolValue(k.Up), k.Name, k.Kind)
			ch <- prometheus.MustNewConstMetric(c.checkDuration, prometheus.GaugeValue, k.Duration.Seconds(), k.Name, k.Kind)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
