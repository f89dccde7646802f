package metrics

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// call is one event a recorder received.
type call struct {
	method, transport, to, receipt string
	e                              *outbox.Entry
	err                            *sdk.DeliveryError
	latency                        time.Duration
	next                           time.Time
}

// recorder is a delivery.Observer that records the calls it receives.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

var _ delivery.Observer = (*recorder)(nil)

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	r.add(call{method: "Sent", e: e, transport: transport, receipt: receipt, latency: latency})
}

func (r *recorder) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	r.add(call{method: "Retried", e: e, transport: transport, err: err, next: next})
}

func (r *recorder) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	r.add(call{method: "FellBack", e: e, transport: from, to: to, err: err})
}

func (r *recorder) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	r.add(call{method: "DeadLettered", e: e, err: err})
}

func TestMetrics_Observer_Forwards(t *testing.T) {
	e := &outbox.Entry{ID: "x@tocsin", Contact: "dba", Via: []string{"graph", "smtp"}}
	de := sdk.TemporaryError(errors.New("421 closing"), "421", "")
	next := t0.Add(time.Minute)
	tests := []struct {
		name   string
		call   func(delivery.Observer)
		want   call
		metric string
		labels map[string]string
	}{
		{
			name:   "sent",
			call:   func(o delivery.Observer) { o.Sent(e, "graph", "250 OK id=7", 40*time.Millisecond) },
			want:   call{method: "Sent", e: e, transport: "graph", receipt: "250 OK id=7", latency: 40 * time.Millisecond},
			metric: "tocsin_notifications_sent_total", labels: l("transport", "graph", "contact", "dba"),
		},
		{
			name:   "retried",
			call:   func(o delivery.Observer) { o.Retried(e, "graph", de, next) },
			want:   call{method: "Retried", e: e, transport: "graph", err: de, next: next},
			metric: "tocsin_notifications_retried_total", labels: l("transport", "graph", "contact", "dba"),
		},
		{
			name:   "fell back",
			call:   func(o delivery.Observer) { o.FellBack(e, "graph", "smtp", de) },
			want:   call{method: "FellBack", e: e, transport: "graph", to: "smtp", err: de},
			metric: "tocsin_notifications_fell_back_total", labels: l("transport", "graph", "contact", "dba"),
		},
		{
			name:   "dead lettered",
			call:   func(o delivery.Observer) { o.DeadLettered(e, de) },
			want:   call{method: "DeadLettered", e: e, err: de},
			metric: "tocsin_notifications_dead_lettered_total", labels: l("transport", "smtp", "contact", "dba"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := newTest(t)
			rec := &recorder{}
			tt.call(m.Observer(rec))
			if len(rec.calls) != 1 {
				t.Fatalf("next got %d calls, want 1: %+v", len(rec.calls), rec.calls)
			}
			if got := rec.calls[0]; got != tt.want {
				t.Errorf("next got %+v, want %+v", got, tt.want)
			}
			if got := scrape(t, url).value(t, tt.metric, tt.labels); got != 1 {
				t.Errorf("%s%v = %v, want 1", tt.metric, tt.labels, got)
			}
		})
	}
}

// TestMetrics_Observer_NilNext checks that Observer(nil) counts without a
// next observer, and that odd input (nil entry, nil error) does not panic.
func TestMetrics_Observer_NilNext(t *testing.T) {
	m, url := newTest(t)
	o := m.Observer(nil)
	e := &outbox.Entry{Contact: "dba", Via: []string{"graph"}}
	o.Sent(e, "graph", "", time.Millisecond)
	o.Retried(e, "graph", nil, time.Time{})
	o.FellBack(e, "graph", "smtp", nil)
	o.DeadLettered(e, nil)
	o.Sent(nil, "graph", "", 0)
	o.DeadLettered(nil, nil)

	f := scrape(t, url)
	for name, want := range map[string]float64{
		"tocsin_notifications_sent_total":          1,
		"tocsin_notifications_retried_total":       1,
		"tocsin_notifications_fell_back_total":     1,
		"tocsin_notifications_dead_lettered_total": 1,
	} {
		if got := f.value(t, name, l("transport", "graph", "contact", "dba")); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := f.value(t, "tocsin_notifications_sent_total", l("transport", "graph", "contact", "")); got != 1 {
		t.Errorf("sent for a nil entry = %v, want 1", got)
	}
}

// TestMetrics_Observer_PairAtZero checks that the first event of a
// (transport, contact) pair creates its four counters, so that the first
// retry or dead letter is an increase from 0, not a new series.
func TestMetrics_Observer_PairAtZero(t *testing.T) {
	m, url := newTest(t)
	m.Observer(nil).Sent(&outbox.Entry{Contact: "dba"}, "graph", "", time.Millisecond)
	f := scrape(t, url)
	for name, want := range map[string]float64{
		"tocsin_notifications_sent_total":          1,
		"tocsin_notifications_retried_total":       0,
		"tocsin_notifications_fell_back_total":     0,
		"tocsin_notifications_dead_lettered_total": 0,
	} {
		if got := f.value(t, name, l("transport", "graph", "contact", "dba")); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestMetrics_Observer_DeadLetterTransport(t *testing.T) {
	tests := []struct {
		name string
		e    *outbox.Entry
		want string
	}{
		{"last attempt", &outbox.Entry{Via: []string{"graph", "smtp"}, Hop: 2, Last: &outbox.Attempt{Transport: "smtp"}}, "smtp"},
		{"no attempt recorded", &outbox.Entry{Via: []string{"graph", "smtp"}, Hop: 2}, "smtp"},
		{"attempt without transport", &outbox.Entry{Via: []string{"gmail"}, Hop: 1, Last: &outbox.Attempt{}}, "gmail"},
		{"contact without transports", &outbox.Entry{Hop: 0, Last: &outbox.Attempt{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := newTest(t)
			tt.e.Contact = "dba"
			m.Observer(nil).DeadLettered(tt.e, sdk.PermanentError(errors.New("550 no"), "550", ""))
			f := scrape(t, url)
			if got := f.value(t, "tocsin_notifications_dead_lettered_total", l("transport", tt.want, "contact", "dba")); got != 1 {
				t.Errorf("dead letters on %q = %v, want 1", tt.want, got)
			}
		})
	}
}

// TestMetrics_Observer_Concurrent drives the observer from many
// goroutines while scraping, as the dispatcher's lanes do: the totals are
// exact and the race detector is quiet.
func TestMetrics_Observer_Concurrent(t *testing.T) {
	m, url := newTest(t)
	rec := &recorder{}
	o := m.Observer(rec)
	const workers, each = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			e := &outbox.Entry{Contact: fmt.Sprintf("c%d", w%2)}
			for i := range each {
				o.Sent(e, "graph", "", time.Duration(i)*time.Millisecond)
				o.Retried(e, "graph", nil, t0)
				m.Enqueued("r", e.Contact)
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			scrape(t, url)
		}
	})
	wg.Wait()

	f := scrape(t, url)
	for _, c := range []string{"c0", "c1"} {
		for _, name := range []string{"tocsin_notifications_sent_total", "tocsin_notifications_retried_total"} {
			if got := f.value(t, name, l("transport", "graph", "contact", c)); got != workers/2*each {
				t.Errorf("%s{contact=%s} = %v, want %d", name, c, got, workers/2*each)
			}
		}
		if got := f.value(t, "tocsin_notifications_enqueued_total", l("rule", "r", "contact", c)); got != workers/2*each {
			t.Errorf("enqueued{contact=%s} = %v, want %d", c, got, workers/2*each)
		}
	}
	if got := f.find("tocsin_send_duration_seconds", l("transport", "graph")).GetHistogram().GetSampleCount(); got != workers*each {
		t.Errorf("latency samples = %d, want %d", got, workers*each)
	}
	if len(rec.calls) != 2*workers*each {
		t.Errorf("next got %d calls, want %d", len(rec.calls), 2*workers*each)
	}
}
