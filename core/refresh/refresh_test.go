package refresh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeTransports records the refreshes; "am" asks for one every minute,
// "mail" for none.
type fakeTransports struct {
	mu    sync.Mutex
	sends [][]*sdk.Message
	fail  error
	every map[string]time.Duration
}

func (f *fakeTransports) From(string) (sdk.Address, error) {
	return sdk.Address{Address: "tocsin@fw-a.example"}, nil
}

func (f *fakeTransports) Send(_ context.Context, _ string, msgs []*sdk.Message) ([]sdk.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, msgs)
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID}
	}
	return out, nil
}

func (f *fakeTransports) RefreshInterval(t string) time.Duration { return f.every[t] }

func (f *fakeTransports) calls() [][]*sdk.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]*sdk.Message(nil), f.sends...)
}

func entry(rule string, state sdk.AlertState, id string) *outbox.Entry {
	return &outbox.Entry{ID: id, Rule: rule, Mail: outbox.Mail{
		To: []sdk.Address{{Address: "ops@example.com"}}, Subject: rule + " " + string(state), Text: "text",
		Alert: &sdk.Alert{Name: rule, State: state, Labels: map[string]string{"node": "fw-a"}, StartsAt: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
	}}
}

func newKeeper(t *testing.T, dir string, clock *time.Time) (*Keeper, *fakeTransports) {
	t.Helper()
	ts := &fakeTransports{every: map[string]time.Duration{"am": time.Minute}}
	k, err := Open(dir, ts, nil, Options{Now: func() time.Time { return *clock }})
	if err != nil {
		t.Fatal(err)
	}
	return k, ts
}

func always(string) bool { return true }

// TestKeeper_RefreshesFiringAlerts: a firing alert a refreshing transport
// delivered goes out again once its interval passed, to that transport
// alone, marked as a refresh and with the alert as it was; alerts of one
// transport share a Send; a resolved alert, a transport that asks for no
// refresh and mail about no alert are not refreshed.
func TestKeeper_RefreshesFiringAlerts(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	k, ts := newKeeper(t, "", &clock)
	ctx := t.Context()

	k.Delivered(entry("sync_stale", sdk.AlertFiring, "a1"), "am")
	k.Delivered(entry("version_mismatch", sdk.AlertFiring, "b1"), "am")
	k.Delivered(entry("sync_stale", sdk.AlertFiring, "a1"), "mail") // asks for none
	k.Delivered(&outbox.Entry{ID: "t1", Rule: "", Mail: outbox.Mail{Subject: "test"}}, "am")
	k.Delivered(&outbox.Entry{ID: "c1", Rule: "no_alert", Mail: outbox.Mail{Subject: "old"}}, "am")
	if got := len(k.Kept()); got != 2 {
		t.Fatalf("kept %d alerts; want 2: %+v", got, k.Kept())
	}

	clock = clock.Add(59 * time.Second)
	if n := k.Refresh(ctx, always); n != 0 || len(ts.calls()) != 0 {
		t.Fatalf("refreshed %d before the interval", n)
	}
	clock = clock.Add(time.Second)
	if n := k.Refresh(ctx, always); n != 2 {
		t.Fatalf("refreshed %d; want 2", n)
	}
	calls := ts.calls()
	if len(calls) != 1 || len(calls[0]) != 2 {
		t.Fatalf("sends = %d; want one Send of both alerts", len(calls))
	}
	m := calls[0][0]
	if m.ID != "a1" || m.Alert == nil || !m.Alert.Refresh || m.Alert.Name != "sync_stale" || m.Alert.State != sdk.AlertFiring ||
		m.Alert.Labels["node"] != "fw-a" || m.From.Address != "tocsin@fw-a.example" || m.Subject != "sync_stale firing" {
		t.Errorf("refresh = %+v, alert %+v", m, m.Alert)
	}
	// Not again before another interval.
	clock = clock.Add(30 * time.Second)
	if n := k.Refresh(ctx, always); n != 0 {
		t.Errorf("refreshed %d again after half an interval", n)
	}

	// The resolve is delivered: the alert is forgotten.
	k.Delivered(entry("sync_stale", sdk.AlertResolved, "a2"), "am")
	clock = clock.Add(time.Hour)
	k.Refresh(ctx, always)
	calls = ts.calls()
	if last := calls[len(calls)-1]; len(last) != 1 || last[0].Alert.Name != "version_mismatch" {
		t.Errorf("after the resolve, refreshed %d alerts: %+v", len(last), last)
	}
}

// TestKeeper_DropsWhatNoLongerFires: an alert whose rule no longer fires
// (a reload removed it, or it ended without a resolved notification) or
// whose transport stopped asking is dropped, not refreshed.
func TestKeeper_DropsWhatNoLongerFires(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	k, ts := newKeeper(t, "", &clock)
	k.Delivered(entry("gone", sdk.AlertFiring, "a1"), "am")
	k.Delivered(entry("kept", sdk.AlertFiring, "b1"), "am")
	k.Delivered(entry("other", sdk.AlertFiring, "c1"), "am")
	clock = clock.Add(time.Hour)
	ts.mu.Lock()
	ts.every["am"] = time.Minute
	ts.mu.Unlock()
	n := k.Refresh(t.Context(), func(rule string) bool { return rule != "gone" })
	if n != 2 {
		t.Errorf("refreshed %d; want 2", n)
	}
	if got := k.Kept(); len(got) != 2 || got[0].Rule != "kept" || got[1].Rule != "other" {
		t.Errorf("kept %+v", got)
	}
	ts.mu.Lock()
	ts.every["am"] = 0
	ts.mu.Unlock()
	clock = clock.Add(time.Hour)
	if n := k.Refresh(t.Context(), always); n != 0 || len(k.Kept()) != 0 {
		t.Errorf("a transport that stopped asking: refreshed %d, kept %d", n, len(k.Kept()))
	}
}

// TestKeeper_FailedRefreshIsTriedAgain: a refresh the transport refuses
// keeps the alert due, so the next round tries it again; nothing falls
// back anywhere else.
func TestKeeper_FailedRefreshIsTriedAgain(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	k, ts := newKeeper(t, "", &clock)
	k.Delivered(entry("r", sdk.AlertFiring, "a1"), "am")
	clock = clock.Add(2 * time.Minute)
	ts.fail = sdk.TemporaryError(errors.New("connection refused"), "", "")
	if n := k.Refresh(t.Context(), always); n != 0 {
		t.Fatalf("refreshed %d through a failing transport", n)
	}
	ts.fail = nil
	clock = clock.Add(time.Second)
	if n := k.Refresh(t.Context(), always); n != 1 {
		t.Errorf("the failed refresh was not tried again at once: %d", n)
	}
	if c := ts.calls(); len(c) != 2 {
		t.Errorf("sends = %d; want 2", len(c))
	}
}

// TestKeeper_SurvivesRestart: the alerts kept are saved in data_dir and
// come back with the next Open, with their last send time; an unreadable
// file is reported and left alone, and the keeper starts empty.
func TestKeeper_SurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	k, _ := newKeeper(t, dir, &clock)
	k.Delivered(entry("r", sdk.AlertFiring, "a1"), "am")
	if err := k.Save(); err != nil {
		t.Fatal(err)
	}
	before := k.Kept()
	k2, _ := newKeeper(t, dir, &clock)
	if got := k2.Kept(); !reflect.DeepEqual(got, before) {
		t.Errorf("after a restart kept %+v; want %+v", got, before)
	}
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("the file is %v, %v; want it private", info.Mode(), err)
	}

	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	k3, err := Open(dir, &fakeTransports{}, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), FileName) || len(k3.Kept()) != 0 {
		t.Errorf("Open of a corrupt file = %v with %d alerts; want an error naming the file and none", err, len(k3.Kept()))
	}
}

// TestKeeper_Run refreshes on its own ticker and saves when it stops.
func TestKeeper_Run(t *testing.T) {
	dir := t.TempDir()
	ts := &fakeTransports{every: map[string]time.Duration{"am": time.Millisecond}}
	k, err := Open(dir, ts, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k.Delivered(entry("r", sdk.AlertFiring, "a1"), "am")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx, 5*time.Millisecond, always) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(ts.calls()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(ts.calls()) < 2 {
		t.Fatalf("Run refreshed %d times", len(ts.calls()))
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Errorf("Run saved nothing: %v", err)
	}
}
