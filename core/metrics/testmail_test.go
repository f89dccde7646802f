package metrics

import "testing"

// TestMetrics_TransportTests: each transport's test mails as counters by
// result and the gauge of whether its settings passed, read at each
// scrape; a later call replaces what is read, nil removes the series; a
// nil Metrics records nothing.
func TestMetrics_TransportTests(t *testing.T) {
	m, url := newTest(t)
	m.TransportTests(func() map[string]TransportTest {
		return map[string]TransportTest{
			"relay": {Sent: 1, Failed: 2, OK: true},
			"graph": {Failed: 1},
		}
	})
	f := scrape(t, url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tocsin_transport_test_mails_total", l("transport", "relay", "result", "sent"), 1},
		{"tocsin_transport_test_mails_total", l("transport", "relay", "result", "failed"), 2},
		{"tocsin_transport_test_mails_total", l("transport", "graph", "result", "sent"), 0},
		{"tocsin_transport_test_mails_total", l("transport", "graph", "result", "failed"), 1},
		{"tocsin_transport_test_ok", l("transport", "relay"), 1},
		{"tocsin_transport_test_ok", l("transport", "graph"), 0},
	} {
		if got := f.value(t, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	m.TransportTests(func() map[string]TransportTest { return map[string]TransportTest{"relay": {OK: true}} })
	if f := scrape(t, url); f.find("tocsin_transport_test_ok", l("transport", "graph")) != nil {
		t.Errorf("graph's series outlive the call that dropped it: %s", f.series("tocsin_transport_test_ok"))
	}
	m.TransportTests(nil)
	if f := scrape(t, url); f["tocsin_transport_test_ok"] != nil || f["tocsin_transport_test_mails_total"] != nil {
		t.Errorf("series after TransportTests(nil): %s", f.series("tocsin_transport_test_ok"))
	}
	var none *Metrics
	none.TransportTests(func() map[string]TransportTest { return nil })
}
