package amclient_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient"
	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient/amtest"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

const (
	password = "am-password-6b1f0e3c9d"
	token    = "am-bearer-token-2c7e9a4f1b"
)

func alert() amclient.Alert {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	return amclient.Alert{
		Labels:       map[string]string{"alertname": "disk_full", "node": "db1"},
		Annotations:  map[string]string{"summary": "disk full"},
		StartsAt:     start,
		EndsAt:       start.Add(3 * time.Minute),
		GeneratorURL: "https://db1.example.com:9870/v1/status",
	}
}

func post(t *testing.T, c *amclient.Client, alerts ...amclient.Alert) (*amclient.Outcome, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return c.Post(ctx, alerts)
}

// deliveryError asserts err is a *sdk.DeliveryError of kind.
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

// TestClient_Post_body posts to an instance under a path prefix and
// checks the request: the path, the JSON of API v2's postableAlert, and
// the headers.
func TestClient_Post_body(t *testing.T) {
	f := amtest.New(t)
	u := amtest.MustURL(t, f.Server.URL+"/am/")
	c := amclient.New(amclient.Config{URLs: []*url.URL{u}, PathPrefix: "/route/", UserAgent: "Tocsin test"})
	o, err := post(t, c, alert())
	if err != nil {
		t.Fatal(err)
	}
	if got := o.String(); got != "accepted by 1 of 1 Alertmanager instance" {
		t.Errorf("receipt = %q", got)
	}
	reqs := f.Got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/am/route/api/v2/alerts" {
		t.Errorf("request = %s %s, want POST /am/route/api/v2/alerts", r.Method, r.Path)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "Tocsin test" || r.Header.Get("Authorization") != "" {
		t.Errorf("headers = %v", r.Header)
	}
	var body []map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("body = %s (%v), want a list of one alert", r.Body, err)
	}
	want := map[string]any{
		"labels":       map[string]any{"alertname": "disk_full", "node": "db1"},
		"annotations":  map[string]any{"summary": "disk full"},
		"startsAt":     "2026-12-06T12:00:00Z",
		"endsAt":       "2026-12-06T12:03:00Z",
		"generatorURL": "https://db1.example.com:9870/v1/status",
	}
	got, _ := json.Marshal(body[0])
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("alert = %s\nwant    %s", got, wantJSON)
	}

	// Zero times and no annotations are left out, for Alertmanager to
	// fill in.
	_, err = post(t, c, amclient.Alert{Labels: map[string]string{"alertname": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := string(f.Got()[1].Body); b != `[{"labels":{"alertname":"x"}}]` {
		t.Errorf("body = %s, want labels only", b)
	}
}

// TestClient_Post_auth checks that the credentials go where they belong.
func TestClient_Post_auth(t *testing.T) {
	tests := []struct {
		name string
		cfg  amclient.Config
		want string
	}{
		{"basic", amclient.Config{Username: "tocsin", Password: password}, "Basic " + base64.StdEncoding.EncodeToString([]byte("tocsin:"+password))},
		{"bearer", amclient.Config{BearerToken: token}, "Bearer " + token},
		{"none", amclient.Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := amtest.New(t), amtest.New(t)
			tt.cfg.URLs = []*url.URL{a.URL(t), b.URL(t)}
			c := amclient.New(tt.cfg)
			if _, err := post(t, c, alert()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Status(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, f := range []*amtest.FakeAM{a, b} {
				for _, r := range f.Got() {
					if got := r.Header.Get("Authorization"); got != tt.want {
						t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.Path, got, tt.want)
					}
				}
			}
		})
	}
}

// TestClient_Post_classify checks how each reply of a single instance is
// classified.
func TestClient_Post_classify(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       sdk.Kind
		reply      string // in Reply
		remedy     string // in Remedy
		retryAfter time.Duration
	}{
		{"invalid alert", 400, nil, `"start time must be before end time"` + "\n", sdk.Permanent, "400 Bad Request: start time must be before end time", "refused the alerts themselves", 0},
		{"invalid JSON", 422, nil, `{"code":602,"message":"labels in body is required"}`, sdk.Permanent, "labels in body is required", "refused the alerts themselves", 0},
		{"unauthorized", 401, nil, "Unauthorized", sdk.Permanent, "401 Unauthorized", "basic_auth_password", 0},
		{"forbidden", 403, nil, "", sdk.Permanent, "403 Forbidden", "bearer_token", 0},
		{"not found", 404, nil, "404 page not found", sdk.Permanent, "404 Not Found", "path_prefix", 0},
		{"too large", 413, nil, "", sdk.Permanent, "413", "shorten", 0},
		{"redirect", 302, http.Header{"Location": {"/login"}}, "", sdk.Permanent, "302 Found", "redirect", 0},
		{"other 4xx", 418, nil, "", sdk.Permanent, "418", "refused the request", 0},
		{"throttled", 429, http.Header{"Retry-After": {"7"}}, "slow down", sdk.Temporary, "429 Too Many Requests: slow down", "slow down", 7 * time.Second},
		{"unavailable with date", 503, http.Header{"Retry-After": {httpDate}}, "", sdk.Temporary, "503 Service Unavailable", "retries", 90 * time.Second},
		{"server error", 500, nil, "failed to create alerts", sdk.Temporary, "500 Internal Server Error: failed to create alerts", "retries", 0},
		{"request timeout", 408, nil, "", sdk.Temporary, "408", "retries", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := amtest.New(t)
			f.SetAnswer(func(amtest.Request) (int, http.Header, string) { return tt.status, tt.header, tt.body })
			c := amclient.New(amclient.Config{URLs: []*url.URL{f.URL(t)}, Username: "u", Password: password})
			o, err := post(t, c, alert())
			if err == nil {
				t.Fatalf("Post succeeded on %d", tt.status)
			}
			if len(o.Accepted) != 0 || len(o.Failed) != 1 {
				t.Errorf("outcome = %+v", o)
			}
			de := deliveryError(t, err, tt.kind)
			if !strings.Contains(de.Reply, tt.reply) || !strings.Contains(de.Remedy, tt.remedy) {
				t.Errorf("reply %q, remedy %q; want %q and %q", de.Reply, de.Remedy, tt.reply, tt.remedy)
			}
			if de.Code != strconv.Itoa(tt.status) {
				t.Errorf("code = %q, want %d", de.Code, tt.status)
			}
			if d := de.RetryAfter - tt.retryAfter; d < -3*time.Second || d > 3*time.Second || (tt.retryAfter == 0 && de.RetryAfter != 0) {
				t.Errorf("RetryAfter = %v, want %v", de.RetryAfter, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), f.Server.URL) {
				t.Errorf("error %q does not name the instance %s", err, f.Server.URL)
			}
			if strings.Contains(err.Error()+de.Reply+de.Remedy, password) {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

// TestClient_Post_network classifies failures to get an answer.
func TestClient_Post_network(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		c := amclient.New(amclient.Config{URLs: []*url.URL{amtest.DeadURL(t)}})
		_, err := post(t, c, alert())
		de := deliveryError(t, err, sdk.Temporary)
		if !strings.Contains(de.Remedy, "Cannot reach") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %v, remedy %q", err, de.Remedy)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := amtest.New(t)
		release := make(chan struct{})
		defer close(release)
		f.SetAnswer(func(amtest.Request) (int, http.Header, string) {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return 200, nil, ""
		})
		c := amclient.New(amclient.Config{URLs: []*url.URL{f.URL(t)}, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
		start := time.Now()
		_, err := post(t, c, alert())
		de := deliveryError(t, err, sdk.Temporary)
		if !strings.Contains(de.Remedy, "timeout") || time.Since(start) > 3*time.Second {
			t.Errorf("error %v, remedy %q after %v", err, de.Remedy, time.Since(start))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := amclient.New(amclient.Config{URLs: []*url.URL{amtest.DeadURL(t)}})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Post(ctx, []amclient.Alert{alert()})
		deliveryError(t, err, sdk.Temporary)
	})
}

// TestClient_Post_cluster posts to two instances in various states.
func TestClient_Post_cluster(t *testing.T) {
	ok := func(amtest.Request) (int, http.Header, string) { return 200, nil, "" }
	answer := func(status int, retry string) func(amtest.Request) (int, http.Header, string) {
		return func(amtest.Request) (int, http.Header, string) {
			h := http.Header{}
			if retry != "" {
				h.Set("Retry-After", retry)
			}
			return status, h, `"bad label"`
		}
	}
	tests := []struct {
		name       string
		a, b       func(amtest.Request) (int, http.Header, string) // nil: down
		ok         bool
		kind       sdk.Kind
		code       string
		retryAfter time.Duration
	}{
		{name: "both accept", a: ok, b: ok, ok: true},
		{name: "one down", a: nil, b: ok, ok: true},
		{name: "one refuses", a: ok, b: answer(503, ""), ok: true},
		{name: "both down", kind: sdk.Temporary},
		{name: "one down, one busy", a: answer(503, "30"), kind: sdk.Temporary, code: "503"},
		{name: "both busy: the shorter wait", a: answer(429, "30"), b: answer(503, "10"), kind: sdk.Temporary, retryAfter: 10 * time.Second},
		{name: "invalid alerts decide", a: answer(400, ""), b: nil, kind: sdk.Permanent, code: "400"},
		{name: "auth refused at one, other busy", a: answer(401, ""), b: answer(503, "5"), kind: sdk.Temporary, code: "503", retryAfter: 5 * time.Second},
		{name: "auth refused at both", a: answer(401, ""), b: answer(403, ""), kind: sdk.Permanent, code: "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []*url.URL
			for _, a := range []func(amtest.Request) (int, http.Header, string){tt.a, tt.b} {
				if a == nil {
					urls = append(urls, amtest.DeadURL(t))
					continue
				}
				f := amtest.New(t)
				f.SetAnswer(a)
				urls = append(urls, f.URL(t))
			}
			c := amclient.New(amclient.Config{URLs: urls})
			o, err := post(t, c, alert())
			if tt.ok {
				if err != nil {
					t.Fatalf("Post = %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Post succeeded; outcome %v", o)
			}
			de := deliveryError(t, err, tt.kind)
			if tt.code != "" && de.Code != tt.code {
				t.Errorf("code = %q, want %q", de.Code, tt.code)
			}
			if de.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", de.RetryAfter, tt.retryAfter)
			}
			for _, u := range urls {
				if !strings.Contains(err.Error(), u.Host) {
					t.Errorf("error %q does not name %s", err, u.Host)
				}
			}
			if !strings.Contains(err.Error(), "none accepted") {
				t.Errorf("error %q", err)
			}
		})
	}
	t.Run("receipt names the instance that failed", func(t *testing.T) {
		f, dead := amtest.New(t), amtest.DeadURL(t)
		o, err := post(t, amclient.New(amclient.Config{URLs: []*url.URL{dead, f.URL(t)}}), alert())
		if err != nil {
			t.Fatal(err)
		}
		want := "accepted by 1 of 2 Alertmanager instances (not by http://" + dead.Host + ")"
		if o.String() != want || len(o.Failed) != 1 || o.Failed[0].Err.Kind != sdk.Temporary {
			t.Errorf("outcome %q %+v, want %q", o, o.Failed, want)
		}
	})
}

// TestClient_Post_concurrent shows that the instances are posted to at
// once: each fake holds its answer until both have the request.
func TestClient_Post_concurrent(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	hold := func(amtest.Request) (int, http.Header, string) {
		arrived.Done()
		select {
		case <-both:
			return 200, nil, ""
		case <-time.After(5 * time.Second):
			return 504, nil, "the other instance was not asked meanwhile"
		}
	}
	a, b := amtest.New(t), amtest.New(t)
	a.SetAnswer(hold)
	b.SetAnswer(hold)
	o, err := post(t, amclient.New(amclient.Config{URLs: []*url.URL{a.URL(t), b.URL(t)}}), alert())
	if err != nil || len(o.Accepted) != 2 {
		t.Fatalf("Post = %v, %v; want both to accept while the other was asked", o, err)
	}
}

// TestClient_Status fails when any instance fails, naming it.
func TestClient_Status(t *testing.T) {
	a, b := amtest.New(t), amtest.New(t)
	c := amclient.New(amclient.Config{URLs: []*url.URL{a.URL(t), b.URL(t)}, PathPrefix: "am"})
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := a.Got()[0]; r.Method != http.MethodGet || r.Path != "/am/api/v2/status" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	b.SetAnswer(func(amtest.Request) (int, http.Header, string) { return 401, nil, "" })
	_, err := c.Status(t.Context())
	de := deliveryError(t, err, sdk.Permanent)
	if !strings.Contains(err.Error(), "1 failed") || !strings.Contains(err.Error(), b.Server.URL) || strings.Contains(err.Error(), a.Server.URL+":") || !strings.Contains(de.Remedy, "basic_auth") {
		t.Errorf("error %v, remedy %q", err, de.Remedy)
	}
}

// TestAlert_Validate lists what Alertmanager refuses.
func TestAlert_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *amclient.Alert)
		want   string // "" valid
	}{
		{"valid", func(*amclient.Alert) {}, ""},
		{"no labels", func(a *amclient.Alert) { a.Labels = nil }, "no labels"},
		{"bad label name", func(a *amclient.Alert) { a.Labels["node-name"] = "x" }, `"node-name"`},
		{"label name with digit first", func(a *amclient.Alert) { a.Labels["1x"] = "x" }, `"1x"`},
		{"bad value", func(a *amclient.Alert) { a.Labels["node"] = "\xff" }, "not UTF-8"},
		{"bad annotation name", func(a *amclient.Alert) { a.Annotations["a b"] = "x" }, `"a b"`},
		{"ends before start", func(a *amclient.Alert) { a.EndsAt = a.StartsAt.Add(-time.Second) }, "before it starts"},
		{"no start", func(a *amclient.Alert) { a.StartsAt = time.Time{} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alert()
			tt.mutate(&a)
			err := a.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
