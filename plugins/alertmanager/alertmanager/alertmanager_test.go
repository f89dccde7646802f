package alertmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/alertmanager"
	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient/amtest"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Secrets planted in the tests: long and distinctive.
const (
	password = "am-password-6b1f0e3c9d"
	token    = "am-bearer-token-2c7e9a4f1b"
)

func settingsOf(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure configures a new transport and fails the test on an error
// diagnostic.
func configure(t *testing.T, m map[string]any) *alertmanager.Transport {
	t.Helper()
	tr := alertmanager.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "fleet", From: "tocsin@node.example", Settings: settingsOf(t, m)})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	return tr
}

// message is a rule's notification as the agent hands it over.
func message(id, event string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		Date:    time.Now().Add(-time.Minute).Truncate(time.Second),
		From:    sdk.Address{Name: "Tocsin", Address: "tocsin@node.example"},
		To:      []sdk.Address{{Address: "oncall@example.com"}},
		Subject: "[FIRING] disk full on db1",
		Text:    "The disk /var on db1 is 99% full.\n",
		Headers: []sdk.Header{
			{Name: "X-Tocsin-Rule", Value: "disk_full"},
			{Name: "X-Tocsin-Event", Value: event},
			{Name: "X-Tocsin-Severity", Value: "critical"},
		},
	}
}

func send(t *testing.T, tr *alertmanager.Transport, msgs ...*sdk.Message) []sdk.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := tr.Send(ctx, msgs)
	if err != nil {
		t.Fatalf("Send = %v", err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(res), len(msgs))
	}
	return res
}

// postedAlert is an alert as a fake instance received it.
type postedAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func alertsIn(t *testing.T, r amtest.Request) []postedAlert {
	t.Helper()
	var out []postedAlert
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return out
}

func deliveryError(t *testing.T, err error, kind sdk.Kind) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *sdk.DeliveryError", err, err)
	}
	if de.Kind != kind {
		t.Errorf("kind = %v, want %v (%v)", de.Kind, kind, err)
	}
	return de
}

// TestTransport_Configure checks the settings' diagnostics: each error
// names its setting.
func TestTransport_Configure(t *testing.T) {
	ca := amtest.NewCA(t)
	tests := []struct {
		name     string
		settings map[string]any
		attr     string // "" for no error
		warn     string // an attribute with a warning
	}{
		{name: "good", settings: map[string]any{"urls": []string{"http://a:9093", "http://b:9093"}}},
		{name: "no urls", settings: map[string]any{}, attr: "urls"},
		{name: "empty urls", settings: map[string]any{"urls": []string{}}, attr: "urls"},
		{name: "not a URL", settings: map[string]any{"urls": []string{"am1:9093"}}, attr: "urls"},
		{name: "ftp", settings: map[string]any{"urls": []string{"ftp://am1"}}, attr: "urls"},
		{name: "user in URL", settings: map[string]any{"urls": []string{"https://u:" + password + "@am1"}}, attr: "urls"},
		{name: "query", settings: map[string]any{"urls": []string{"https://am1/?x=1"}}, attr: "urls"},
		{name: "duplicate", settings: map[string]any{"urls": []string{"https://am1", "https://am1/"}}, warn: "urls"},
		{name: "basic and bearer", settings: map[string]any{"urls": []string{"https://am1"}, "basic_auth_username": "u", "basic_auth_password": password, "bearer_token": token}, attr: "bearer_token"},
		{name: "user without password", settings: map[string]any{"urls": []string{"https://am1"}, "basic_auth_username": "u"}, attr: "basic_auth_password"},
		{name: "password without user", settings: map[string]any{"urls": []string{"https://am1"}, "basic_auth_password": password}, attr: "basic_auth_username"},
		{name: "auth over http", settings: map[string]any{"urls": []string{"https://am1", "http://am2"}, "bearer_token": token}, attr: "urls"},
		{name: "auth over http allowed", settings: map[string]any{"urls": []string{"http://am2"}, "bearer_token": token, "allow_insecure_auth": true}},
		{name: "timeout", settings: map[string]any{"urls": []string{"https://am1"}, "timeout": "0s"}, attr: "timeout"},
		{name: "refresh_interval", settings: map[string]any{"urls": []string{"https://am1"}, "refresh_interval": "-1s"}, attr: "refresh_interval"},
		{name: "ends_after equal", settings: map[string]any{"urls": []string{"https://am1"}, "refresh_interval": "1m", "ends_after": "1m"}, attr: "ends_after"},
		{name: "ends_after shorter than the default interval", settings: map[string]any{"urls": []string{"https://am1"}, "ends_after": "30s"}, attr: "ends_after"},
		{name: "ends_after longer", settings: map[string]any{"urls": []string{"https://am1"}, "refresh_interval": "30s", "ends_after": "31s"}},
		{name: "ca_file missing", settings: map[string]any{"urls": []string{"https://am1"}, "ca_file": "/nonexistent/ca.pem"}, attr: "ca_file"},
		{name: "ca_file", settings: map[string]any{"urls": []string{"https://am1"}, "ca_file": ca.File(t)}},
		{name: "tls_skip_verify", settings: map[string]any{"urls": []string{"https://am1"}, "tls_skip_verify": true}, warn: "tls_skip_verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := alertmanager.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "fleet", Settings: settingsOf(t, tt.settings)})
			if err != nil {
				t.Fatal(err)
			}
			var errAttrs, warnAttrs []string
			for _, d := range diags {
				if d.Severity == sdk.SeverityError {
					errAttrs = append(errAttrs, d.Attribute)
				} else {
					warnAttrs = append(warnAttrs, d.Attribute)
				}
				if strings.Contains(d.Summary+d.Detail, password) || strings.Contains(d.Summary+d.Detail, token) {
					t.Errorf("diagnostic holds a secret: %+v", d)
				}
			}
			if tt.attr == "" && len(errAttrs) > 0 || tt.attr != "" && (len(errAttrs) != 1 || errAttrs[0] != tt.attr) {
				t.Errorf("errors on %v, want on %q: %+v", errAttrs, tt.attr, diags)
			}
			if tt.warn != "" && (len(warnAttrs) != 1 || warnAttrs[0] != tt.warn) {
				t.Errorf("warnings on %v, want on %q", warnAttrs, tt.warn)
			}
			if _, err := tr.Send(t.Context(), nil); (err != nil) != (tt.attr != "") {
				t.Errorf("Send after Configure = %v; an error diagnostic must make the transport refuse", err)
			}
		})
	}
}

// TestTransport_Send_alert checks the alert a rule's notification
// becomes: the labels, annotations and times, and that a resolve ends it.
func TestTransport_Send_alert(t *testing.T) {
	f := amtest.New(t)
	tr := configure(t, map[string]any{"urls": []string{f.Server.URL}, "refresh_interval": "20s"})

	fire := message("fire.1@node", "fire")
	before := time.Now()
	res := send(t, tr, fire)
	if res[0].Err != nil || res[0].Receipt != "accepted by 1 of 1 Alertmanager instance" {
		t.Fatalf("result = %+v", res[0])
	}
	a := alertsIn(t, f.Got()[0])
	if len(a) != 1 {
		t.Fatalf("alerts = %+v", a)
	}
	if want := map[string]string{"alertname": "disk_full", "severity": "critical"}; !equal(a[0].Labels, want) {
		t.Errorf("labels = %v, want %v", a[0].Labels, want)
	}
	if want := map[string]string{"summary": fire.Subject, "description": fire.Text, "message_id": fire.ID}; !equal(a[0].Annotations, want) {
		t.Errorf("annotations = %v, want %v", a[0].Annotations, want)
	}
	if !a[0].StartsAt.Equal(fire.Date) {
		t.Errorf("startsAt = %v, want the message's date %v", a[0].StartsAt, fire.Date)
	}
	// ends_after defaults to 3 × refresh_interval.
	if d := a[0].EndsAt.Sub(before); d < 60*time.Second || d > 62*time.Second {
		t.Errorf("endsAt is %v after the send, want 1m (3 × refresh_interval)", d)
	}

	res = send(t, tr, message("resolve.1@node", "resolve"))
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	a = alertsIn(t, f.Got()[1])
	if !a[0].StartsAt.IsZero() || a[0].EndsAt.Before(before) || a[0].EndsAt.After(time.Now()) || a[0].Labels["alertname"] != "disk_full" {
		t.Errorf("resolve alert = %+v, want the same labels, no start and an end now", a[0])
	}

	// A message no rule sent is named by its subject.
	plain := &sdk.Message{ID: "test.1@node", From: fire.From, To: fire.To, Subject: "Tocsin test", Text: "hello"}
	send(t, tr, plain)
	a = alertsIn(t, f.Got()[2])
	if want := map[string]string{"alertname": "Tocsin test"}; !equal(a[0].Labels, want) {
		t.Errorf("labels = %v, want %v", a[0].Labels, want)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTransport_Send_batch sends three messages, one invalid: one request
// with the two good alerts, and an error of its own for the bad one.
func TestTransport_Send_batch(t *testing.T) {
	f := amtest.New(t)
	tr := configure(t, map[string]any{"urls": []string{f.Server.URL}})
	bad := message("bad@node", "fire")
	bad.To = nil
	res := send(t, tr, message("a@node", "fire"), bad, message("c@node", "fire"))
	if res[0].Err != nil || res[2].Err != nil {
		t.Errorf("good messages failed: %+v", res)
	}
	deliveryError(t, res[1].Err, sdk.Permanent)
	if reqs := f.Got(); len(reqs) != 1 || len(alertsIn(t, reqs[0])) != 2 {
		t.Errorf("requests = %d, want one with two alerts", len(reqs))
	}
	// A batch of only invalid messages posts nothing.
	res = send(t, tr, bad)
	deliveryError(t, res[0].Err, sdk.Permanent)
	if n := len(f.Got()); n != 1 {
		t.Errorf("%d requests, want none more", n-1)
	}
}

// TestTransport_Send_cluster shows a send delivered while one instance
// is down, and retried when all are.
func TestTransport_Send_cluster(t *testing.T) {
	f := amtest.New(t)
	dead := amtest.DeadURL(t)
	tr := configure(t, map[string]any{"urls": []string{dead.String(), f.Server.URL}, "basic_auth_username": "tocsin", "basic_auth_password": password, "allow_insecure_auth": true})
	res := send(t, tr, message("a@node", "fire"))
	if res[0].Err != nil || !strings.HasPrefix(res[0].Receipt, "accepted by 1 of 2") {
		t.Errorf("result = %+v, want accepted by one", res[0])
	}
	if u, p, ok := (&http.Request{Header: f.Got()[0].Header}).BasicAuth(); !ok || u != "tocsin" || p != password {
		t.Errorf("basic auth = %q %q %v", u, p, ok)
	}
	f.Server.Close()
	res = send(t, tr, message("b@node", "fire"))
	de := deliveryError(t, res[0].Err, sdk.Temporary)
	if !strings.Contains(de.Error(), dead.Host) || !strings.Contains(de.Error(), "none accepted") {
		t.Errorf("error %v", de)
	}
	err := tr.Check(t.Context())
	deliveryError(t, err, sdk.Temporary)
}

// TestTransport_TLS posts over https to an instance whose certificate a
// generated CA signed: trusted through ca_file, refused without it with
// a remedy that names ca_file.
func TestTransport_TLS(t *testing.T) {
	ca := amtest.NewCA(t)
	f := amtest.NewTLS(t, ca)
	tr := configure(t, map[string]any{"urls": []string{f.Server.URL}, "ca_file": ca.File(t), "bearer_token": token})
	if res := send(t, tr, message("tls@node", "fire")); res[0].Err != nil {
		t.Fatalf("with ca_file: %v", res[0].Err)
	}
	if err := tr.Check(t.Context()); err != nil {
		t.Fatalf("Check with ca_file: %v", err)
	}
	if got := f.Got()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q", got)
	}

	tr = configure(t, map[string]any{"urls": []string{f.Server.URL}, "bearer_token": token})
	res := send(t, tr, message("tls2@node", "fire"))
	de := deliveryError(t, res[0].Err, sdk.Permanent)
	if !strings.Contains(de.Remedy, "ca_file") || !strings.Contains(de.Error(), "certificate") {
		t.Errorf("without ca_file: %v, remedy %q", de, de.Remedy)
	}
	if strings.Contains(de.Error()+de.Remedy+de.Reply, token) {
		t.Errorf("the token is in the error")
	}
	err := tr.Check(t.Context())
	if de := deliveryError(t, err, sdk.Permanent); !strings.Contains(de.Remedy, "ca_file") {
		t.Errorf("Check without ca_file: remedy %q", de.Remedy)
	}

	tr = configure(t, map[string]any{"urls": []string{f.Server.URL}, "tls_skip_verify": true})
	if res := send(t, tr, message("tls3@node", "fire")); res[0].Err != nil {
		t.Errorf("with tls_skip_verify: %v", res[0].Err)
	}
}
