package metrics_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
)

// The agent wraps its own observer, hands over the outbox's Stats and
// serves the handler at /metrics.
func Example() {
	m := metrics.New()
	obs := m.Observer(delivery.NopObserver{}) // the agent's logging observer here
	m.Outbox(func() (outbox.Stats, error) { return outbox.Stats{Pending: 3}, nil })

	m.Enqueued("disk_full", "dba")
	obs.Sent(&outbox.Entry{Rule: "disk_full", Contact: "dba"}, "graph", "250 OK", 120*time.Millisecond)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "tocsin_notifications_") || strings.HasPrefix(line, "tocsin_outbox_pending ") {
			fmt.Println(line)
		}
	}
	// Output:
	// tocsin_notifications_dead_lettered_total{contact="dba",transport="graph"} 0
	// tocsin_notifications_enqueued_total{contact="dba",rule="disk_full"} 1
	// tocsin_notifications_fell_back_total{contact="dba",transport="graph"} 0
	// tocsin_notifications_retried_total{contact="dba",transport="graph"} 0
	// tocsin_notifications_sent_total{contact="dba",transport="graph"} 1
	// tocsin_outbox_pending 3
}
