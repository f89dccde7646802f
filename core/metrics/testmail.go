package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// TransportTest is what /metrics says of one transport's test mails (a
// transport block's test_to): how many were sent and how many attempts
// failed since the agent started, and whether its current settings
// passed a test.
type TransportTest struct {
	// Sent counts the test mails the transport delivered; Failed the
	// attempts that failed (each retry and the last one).
	Sent, Failed int
	// OK is set while the transport's current settings are those of the
	// last test mail it delivered.
	OK bool
}

// TransportTests has, read from tests at each scrape:
//
//	tocsin_transport_test_mails_total{transport, result}  result "sent" or "failed" (attempts)
//	tocsin_transport_test_ok{transport}                   1 while the current settings passed a test, 0 while a test is on its way or failed
//
// for each transport with test_to. tests must be safe to call
// concurrently with the agent's work. A later call replaces tests; a nil
// tests removes the series.
func (m *Metrics) TransportTests(tests func() map[string]TransportTest) {
	if m == nil {
		return
	}
	m.testsOnce.Do(func() {
		m.tests = &testCollector{
			mails: prometheus.NewDesc(prometheus.BuildFQName(namespace, "transport", "test_mails_total"),
				"Test mails of a transport whose settings changed (test_to): delivered (result \"sent\") and failed attempts (result \"failed\"), since the agent started.", []string{"transport", "result"}, nil),
			ok: prometheus.NewDesc(prometheus.BuildFQName(namespace, "transport", "test_ok"),
				"1 while the transport's current settings passed a test mail, 0 while its test mail is on its way or failed.", []string{"transport"}, nil),
		}
		m.reg.MustRegister(m.tests)
	})
	m.tests.mu.Lock()
	m.tests.read = tests
	m.tests.mu.Unlock()
}

// testCollector reads the transports' test mails at scrape time.
type testCollector struct {
	mails, ok *prometheus.Desc

	mu   sync.Mutex
	read func() map[string]TransportTest
}

// Describe sends the descriptions of both metrics.
func (c *testCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mails
	ch <- c.ok
}

// Collect sends the counters and the gauge of each transport.
func (c *testCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	for transport, t := range read() {
		name := label(transport)
		ch <- prometheus.MustNewConstMetric(c.mails, prometheus.CounterValue, float64(t.Sent), name, "sent")
		ch <- prometheus.MustNewConstMetric(c.mails, prometheus.CounterValue, float64(t.Failed), name, "failed")
		ok := 0.0
		if t.OK {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, ok, name)
	}
}
