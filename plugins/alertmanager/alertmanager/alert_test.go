package alertmanager_test

import (
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient/amtest"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestTransport_Send_ruleAlert: a notification that carries its rule's
// alert (sdk.Message.Alert) posts the alert's labels with alertname the
// rule, its start, an endsAt ends_after ahead while it fires (a refresh
// too) and its end once resolved; state and since are annotations. The
// headers, which an older agent's mapping read, do not count then.
func TestTransport_Send_ruleAlert(t *testing.T) {
	f := amtest.New(t)
	tr := configure(t, map[string]any{"urls": []string{f.Server.URL}, "refresh_interval": "10s", "ends_after": "45s"})
	start := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	labels := map[string]string{"node": "fw-a", "role": "primary", "severity": "critical", "team": "net"}
	tests := []struct {
		name      string
		alert     sdk.Alert
		wantState string
		resolved  bool
	}{
		{name: "fire", alert: sdk.Alert{Name: "sync_stale", State: sdk.AlertFiring, Labels: labels, StartsAt: start}, wantState: "firing"},
		{name: "refresh", alert: sdk.Alert{Name: "sync_stale", State: sdk.AlertFiring, Labels: labels, StartsAt: start, Refresh: true}, wantState: "firing"},
		{name: "resolve", alert: sdk.Alert{Name: "sync_stale", State: sdk.AlertResolved, Labels: labels, StartsAt: start, EndsAt: start.Add(30 * time.Minute)}, wantState: "resolved", resolved: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message("m"+tt.name+"@node", "fire") // headers say fire and disk_full: ignored
			m.Alert = &tt.alert
			before := time.Now()
			if res := send(t, tr, m); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			a := alertsIn(t, f.Got()[i])[0]
			want := map[string]string{"alertname": "sync_stale", "node": "fw-a", "role": "primary", "severity": "critical", "team": "net"}
			if !equal(a.Labels, want) {
				t.Errorf("labels = %v; want %v", a.Labels, want)
			}
			if a.Annotations["state"] != tt.wantState || a.Annotations["since"] != start.Format(time.RFC3339) || a.Annotations["summary"] != m.Subject {
				t.Errorf("annotations = %v", a.Annotations)
			}
			if !a.StartsAt.Equal(start) {
				t.Errorf("startsAt = %v; want %v", a.StartsAt, start)
			}
			if tt.resolved {
				if !a.EndsAt.Equal(tt.alert.EndsAt) {
					t.Errorf("endsAt = %v; want the resolve %v", a.EndsAt, tt.alert.EndsAt)
				}
				return
			}
			if d := a.EndsAt.Sub(before); d < 44*time.Second || d > 47*time.Second {
				t.Errorf("endsAt %v after the send; want ends_after, 45s", d)
			}
		})
	}
	if len(labels) != 4 {
		t.Errorf("the send changed the message's labels: %v", labels)
	}
}

// TestTransport_AlertRefreshInterval: the transport asks the agent to
// post firing alerts again every refresh_interval; unconfigured, it says
// nothing.
func TestTransport_AlertRefreshInterval(t *testing.T) {
	f := amtest.New(t)
	tr := configure(t, map[string]any{"urls": []string{f.Server.URL}, "refresh_interval": "25s"})
	if d, err := tr.AlertRefreshInterval(t.Context()); err != nil || d != 25*time.Second {
		t.Errorf("AlertRefreshInterval = %v, %v; want 25s", d, err)
	}
	if d, err := configure(t, map[string]any{"urls": []string{f.Server.URL}}).AlertRefreshInterval(t.Context()); err != nil || d != time.Minute {
		t.Errorf("default AlertRefreshInterval = %v, %v; want 1m", d, err)
	}
}
