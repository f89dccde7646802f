package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestGRPC_AlertTravels: a message's alert reaches the plugin as the agent
// sent it (labels, state, times, refresh), and a message without one
// arrives without one.
func TestGRPC_AlertTravels(t *testing.T) {
	fake := &fakeTransport{results: func(msgs []*sdk.Message) []sdk.Result {
		return []sdk.Result{{MessageID: msgs[0].ID}}
	}}
	tr := connect(t, fake)
	ctx := context.Background()
	start := time.Date(2026, 12, 6, 10, 0, 0, 123, time.UTC)
	tests := []struct {
		name  string
		alert *sdk.Alert
	}{
		{name: "firing", alert: &sdk.Alert{Name: "version_mismatch", State: sdk.AlertFiring, Labels: map[string]string{"node": "fw-a", "role": "primary", "severity": "critical", "team": "net"}, StartsAt: start}},
		{name: "resolved", alert: &sdk.Alert{Name: "sync_stale", State: sdk.AlertResolved, Labels: map[string]string{"node": "fw-b"}, StartsAt: start, EndsAt: start.Add(time.Hour)}},
		{name: "refresh", alert: &sdk.Alert{Name: "x", State: sdk.AlertFiring, StartsAt: start, Refresh: true}},
		{name: "no alert", alert: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("a@x")
			m.Alert = tt.alert
			if _, err := tr.Send(ctx, []*sdk.Message{m}); err != nil {
				t.Fatal(err)
			}
			got := fake.got[0].Alert
			if tt.alert == nil {
				if got != nil {
					t.Fatalf("alert = %+v; want none", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("alert = nil; want %+v", tt.alert)
			}
			// The wire does not tell no labels from none.
			want, gotv := *tt.alert, *got
			if len(want.Labels) == 0 && len(gotv.Labels) == 0 {
				want.Labels, gotv.Labels = nil, nil
			}
			if !reflect.DeepEqual(gotv, want) {
				t.Errorf("alert over gRPC = %+v; want %+v", gotv, want)
			}
		})
	}
}

// refresher asks for its alerts to be refreshed, or fails to say.
type refresher struct {
	fakeTransport
	every time.Duration
	err   error
}

func (r *refresher) AlertRefreshInterval(context.Context) (time.Duration, error) {
	return r.every, r.err
}

// TestGRPC_AlertRefreshInterval: what a transport says with Configure
// reaches the agent; a plugin that says nothing, fails to say, asks for a
// negative interval or has error diagnostics gets no refresh, and an
// absurd one is capped at a day.
func TestGRPC_AlertRefreshInterval(t *testing.T) {
	tests := []struct {
		name  string
		impl  sdk.Transport
		diags sdk.Diagnostics
		want  time.Duration
	}{
		{name: "a minute", impl: &refresher{every: time.Minute}, want: time.Minute},
		{name: "not implemented", impl: &fakeTransport{}, want: 0},
		{name: "error", impl: &refresher{every: time.Minute, err: errors.New("no")}, want: 0},
		{name: "negative", impl: &refresher{every: -time.Second}, want: 0},
		{name: "a year", impl: &refresher{every: 365 * 24 * time.Hour}, want: 24 * time.Hour},
		{name: "bad settings", impl: &refresher{every: time.Minute, fakeTransport: fakeTransport{diags: sdk.Diagnostics{}.Errorf("url", "", "bad")}}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := connect(t, tt.impl)
			ctx := context.Background()
			if _, err := tr.Configure(ctx, sdk.Config{SaveCredential: func(string) {}}); err != nil {
				t.Fatal(err)
			}
			r, ok := tr.(sdk.AlertRefresher)
			if !ok {
				t.Fatalf("the agent's transport %T is no AlertRefresher", tr)
			}
			got, err := r.AlertRefreshInterval(ctx)
			if err != nil || got != tt.want {
				t.Errorf("AlertRefreshInterval = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
