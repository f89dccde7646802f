package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestMetrics_Outbox(t *testing.T) {
	tests := []struct {
		name                   string
		stats                  outbox.Stats
		pending, dead, ageSecs float64
	}{
		{"empty", outbox.Stats{}, 0, 0, 0},
		{"pending", outbox.Stats{Pending: 12, OldestPending: t0.Add(-2*time.Hour - 500*time.Millisecond)}, 12, 0, 7200.5},
		{"dead only", outbox.Stats{Dead: 3}, 0, 3, 0},
		{"oldest in the future (clock set back)", outbox.Stats{Pending: 1, OldestPending: t0.Add(time.Minute)}, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := newTest(t)
			m.Outbox(func() (outbox.Stats, error) { return tt.stats, nil })
			f := scrape(t, url)
			for name, want := range map[string]float64{
				"tocsin_outbox_pending":                    tt.pending,
				"tocsin_outbox_dead":                       tt.dead,
				"tocsin_outbox_oldest_pending_age_seconds": tt.ageSecs,
			} {
				if got := f.value(t, name, l()); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestMetrics_Outbox_ReadAtScrape checks that the gauges follow stats
// from one scrape to the next, with one stats call per scrape, and that a
// later Outbox call replaces stats.
func TestMetrics_Outbox_ReadAtScrape(t *testing.T) {
	m, url := newTest(t)
	if f := scrape(t, url); f["tocsin_outbox_pending"] != nil {
		t.Fatalf("outbox gauges before Outbox was called: %v", f["tocsin_outbox_pending"])
	}
	var pending, calls atomic.Int64
	m.Outbox(func() (outbox.Stats, error) {
		calls.Add(1)
		return outbox.Stats{Pending: int(pending.Load())}, nil
	})
	for _, n := range []int64{5, 200, 0} {
		pending.Store(n)
		if got := scrape(t, url).value(t, "tocsin_outbox_pending", l()); got != float64(n) {
			t.Errorf("pending = %v, want %d", got, n)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("stats called %d times for 3 scrapes, want 3", got)
	}

	m.Outbox(func() (outbox.Stats, error) { return outbox.Stats{Dead: 9}, nil })
	if got := scrape(t, url).value(t, "tocsin_outbox_dead", l()); got != 9 {
		t.Errorf("dead after replacing stats = %v, want 9", got)
	}
	m.Outbox(nil)
	if f := scrape(t, url); f["tocsin_outbox_dead"] != nil {
		t.Errorf("outbox gauges after Outbox(nil): %v", f["tocsin_outbox_dead"])
	}
}

// TestMetrics_Outbox_Error checks that an outbox that cannot be read
// costs only its gauges: the scrape answers 200 with every other metric,
// and the handler counts a gathering error.
func TestMetrics_Outbox_Error(t *testing.T) {
	m, url := newTest(t)
	m.TokenRefreshed("graph")
	m.Outbox(func() (outbox.Stats, error) { return outbox.Stats{}, outbox.ErrClosed })
	f := scrape(t, url)
	for _, name := range []string{"tocsin_outbox_pending", "tocsin_outbox_dead", "tocsin_outbox_oldest_pending_age_seconds"} {
		if f[name] != nil {
			t.Errorf("%s served although stats failed", name)
		}
	}
	if got := f.value(t, "tocsin_token_refreshes_total", l("transport", "graph")); got != 1 {
		t.Errorf("token refreshes = %v, want 1", got)
	}
	// The handler counts the error after the scrape that met it: the next
	// one shows it.
	if got := scrape(t, url).value(t, "promhttp_metric_handler_errors_total", l("cause", "gathering")); got != 1 {
		t.Errorf("gathering errors = %v, want 1", got)
	}
	if _, err := m.reg.Gather(); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Gather error = %v, want one wrapping outbox.ErrClosed", err)
	}
}

// TestMetrics_Outbox_Real reads the gauges from a real outbox file.
func TestMetrics_Outbox_Real(t *testing.T) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = ob.Close() }()
	m, url := newTest(t)
	m.Outbox(ob.Stats)

	f := scrape(t, url)
	if got := f.value(t, "tocsin_outbox_pending", l()); got != 0 {
		t.Errorf("pending in an empty outbox = %v, want 0", got)
	}

	ctx := context.Background()
	var entries []*outbox.Entry
	for i, age := range []time.Duration{10 * time.Minute, 3 * time.Minute, time.Minute} {
		entries = append(entries, &outbox.Entry{
			ID: "n" + string(rune('a'+i)) + "@tocsin", Rule: "disk_full", Contact: "dba", Via: []string{"graph"},
			Mail:       outbox.Mail{To: []sdk.Address{{Address: "dba@example.org"}}, Subject: "[FIRING] disk_full"},
			EnqueuedAt: t0.Add(-age),
		})
	}
	if err := ob.Enqueue(ctx, entries...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	dead := entries[0]
	dead.State, dead.Hop = outbox.Dead, 1
	if err := ob.Save(ctx, dead); err != nil {
		t.Fatalf("Save: %v", err)
	}

	f = scrape(t, url)
	for name, want := range map[string]float64{
		"tocsin_outbox_pending":                    2,
		"tocsin_outbox_dead":                       1,
		"tocsin_outbox_oldest_pending_age_seconds": 180,
	} {
		if got := f.value(t, name, l()); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestMetrics_PluginStarts checks that the start counts are read at each
// scrape and follow the transports the agent has.
func TestMetrics_PluginStarts(t *testing.T) {
	m, url := newTest(t)
	if f := scrape(t, url); f["tocsin_plugin_starts_total"] != nil {
		t.Fatalf("plugin starts before PluginStarts was called: %s", f.series("tocsin_plugin_starts_total"))
	}
	var starts atomic.Pointer[map[string]int]
	m.PluginStarts(func() map[string]int { return *starts.Load() })

	steps := []map[string]int{
		{"graph": 1, "smtp": 1},
		{"graph": 3, "smtp": 1}, // graph's plugin crashed twice
		{"gmail": 1, "smtp": 2}, // a reload replaced graph by gmail
		{},                      // no transports
	}
	for i, want := range steps {
		starts.Store(&want)
		f := scrape(t, url)
		if got := len(f["tocsin_plugin_starts_total"].GetMetric()); got != len(want) {
			t.Errorf("step %d: %d series, want %d: %s", i, got, len(want), f.series("tocsin_plugin_starts_total"))
		}
		for transport, n := range want {
			if got := f.value(t, "tocsin_plugin_starts_total", l("transport", transport)); got != float64(n) {
				t.Errorf("step %d: starts{transport=%s} = %v, want %d", i, transport, got, n)
			}
		}
	}
	m.PluginStarts(nil)
	if f := scrape(t, url); f["tocsin_plugin_starts_total"] != nil {
		t.Errorf("plugin starts after PluginStarts(nil): %s", f.series("tocsin_plugin_starts_total"))
	}
}
