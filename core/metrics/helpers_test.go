package metrics

import (
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// newTest returns a Metrics on a pedantic registry (every scrape checks
// that what the collectors send matches what they describe), with the
// clock at t0, and a /metrics server for it on 127.0.0.1.
func newTest(t testing.TB) (*Metrics, string) {
	t.Helper()
	m := newMetrics(prometheus.NewPedanticRegistry(), func() time.Time { return t0 })
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return m, srv.URL
}

// families is one scrape, parsed.
type families map[string]*dto.MetricFamily

// scrape GETs url, checks that it answers 200 in the Prometheus text
// format, and parses the body.
func scrape(t testing.TB, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, body:\n%s", resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		t.Fatalf("scrape: Content-Type %q, want text/plain", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return fams
}

// find returns the series of family name whose labels are exactly
// labels, or nil.
func (f families) find(name string, labels map[string]string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if maps.Equal(got, labels) {
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge series, failing the test
// when the series is missing.
func (f families) value(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	m := f.find(name, labels)
	if m == nil {
		t.Fatalf("no series %s%v; have %s", name, labels, f.series(name))
	}
	switch f[name].GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s is a %s, not a counter or gauge", name, f[name].GetType())
	return 0
}

// series lists the label sets of family name, for failure messages.
func (f families) series(name string) string {
	var out []string
	for _, m := range f[name].GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		out = append(out, "{"+strings.Join(ls, ",")+"}")
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// l builds a label set from name, value pairs.
func l(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
