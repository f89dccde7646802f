package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// TransportsUp has tocsin_transport_up{transport}: 1 while the
// transport's plugin runs and took its settings, 0 while it failed to
// start (the agent keeps trying), read from up at each scrape. up must be
// safe to call concurrently with the agent's work. A later call replaces
// up; a nil up removes the series.
func (m *Metrics) TransportsUp(up func() map[string]bool) {
	if m == nil {
		return
	}
	m.upOnce.Do(func() {
		m.up = &upCollector{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "transport", "up"),
			"1 while the transport's plugin runs and took its settings, 0 while it failed to start and the agent tries again.", []string{"transport"}, nil)}
		m.reg.MustRegister(m.up)
	})
	m.up.mu.Lock()
	m.up.up = up
	m.up.mu.Unlock()
}

// upCollector reads which transports are up at scrape time.
type upCollector struct {
	desc *prometheus.Desc

	mu sync.Mutex
	up func() map[string]bool
}

// Describe sends the gauge's description.
func (c *upCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends one gauge per transport.
func (c *upCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	if up == nil {
		return
	}
	for transport, ok := range up() {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, label(transport))
	}
}
