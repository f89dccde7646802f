package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAbLine: the A/B line of bench-compare BASE=dir gives each build's
// medians and the median of the round-by-round ratio of their rates.
func TestAbLine(t *testing.T) {
	row := func(rates ...float64) *senderRow {
		r := &senderRow{}
		for _, x := range rates {
			r.samples = append(r.samples, sample{rate: x, total: time.Duration(200/x*1000) * time.Millisecond})
		}
		return r
	}
	got := abLine(row(400, 200, 300), row(200, 200, 400), "/base/bin")
	for _, want := range []string{"this build 300 msg/s", "alert to last mail 666 ms", "BASE (/base/bin) 200 msg/s", "1.00× (0.75–2.00)"} {
		if !strings.Contains(got, want) {
			t.Errorf("A/B line %q lacks %q", got, want)
		}
	}
	if got := abLine(row(), row(100), "x"); got != "" {
		t.Errorf("A/B line without samples: %q", got)
	}
}
