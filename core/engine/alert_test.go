package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestAlertOf: a notification's alert carries the rule's name and own
// labels plus node, role and severity (which win over the rule's), fires
// from when the condition began to hold, and resolves at the evaluation
// that saw it end.
func TestAlertOf(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	since := at.Add(-time.Hour)
	own := map[string]string{"team": "net", "node": "spoofed"}
	tests := []struct {
		name string
		n    rules.Notification
		role string
		want *sdk.Alert
	}{
		{
			name: "fire",
			n:    rules.Notification{Rule: "sync_stale", Event: rules.EventFire, Severity: "critical", At: at, Since: since, Labels: own},
			role: "primary",
			want: &sdk.Alert{Name: "sync_stale", State: sdk.AlertFiring, StartsAt: since, Labels: map[string]string{"team": "net", "node": "fw-a", "role": "primary", "severity": "critical"}},
		},
		{
			name: "repeat, no role",
			n:    rules.Notification{Rule: "r", Event: rules.EventRepeat, Severity: "warning", At: at, Since: since},
			want: &sdk.Alert{Name: "r", State: sdk.AlertFiring, StartsAt: since, Labels: map[string]string{"node": "fw-a", "severity": "warning"}},
		},
		{
			name: "resolve",
			n:    rules.Notification{Rule: "r", Event: rules.EventResolve, At: at, Since: since},
			role: "backup",
			want: &sdk.Alert{Name: "r", State: sdk.AlertResolved, StartsAt: since, EndsAt: at, Labels: map[string]string{"node": "fw-a", "role": "backup"}},
		},
		{
			name: "flapping fires; unknown start is now",
			n:    rules.Notification{Rule: "r", Event: rules.EventFlapStart, At: at},
			want: &sdk.Alert{Name: "r", State: sdk.AlertFiring, StartsAt: at, Labels: map[string]string{"node": "fw-a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alertOf(tt.n, "fw-a", tt.role)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("alertOf = %+v; want %+v", got, tt.want)
			}
		})
	}
	if own["node"] != "spoofed" || len(own) != 2 {
		t.Errorf("alertOf changed the rule's labels: %v", own)
	}
}
