package outboxapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// attachmentData is the content of the test attachment: it must never be
// served.
const attachmentData = "PLANTED-attachment-bytes-7731"

// seededOutbox is an outbox in a temporary directory with three entries:
// two pending (the second with an attachment) and one dead.
type seededOutbox struct {
	ob                 *outbox.Outbox
	pending1, pending2 string
	dead               string
}

func seedOutbox(t *testing.T) seededOutbox {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	s := seededOutbox{ob: ob, pending1: "a1@node-1.example", pending2: "b2@node-1.example", dead: "c3@node-1.example"}
	ctx := context.Background()
	entry := func(id string, at time.Time) *outbox.Entry {
		return &outbox.Entry{
			ID: id, Rule: "disk_full", Event: "fire", Contact: "ops", Via: []string{"primary", "backup"},
			Mail: outbox.Mail{
				To:      []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}, {Address: "oncall@example.com"}},
				Subject: "disk full on " + id, Text: "the body",
			},
			EnqueuedAt: at,
		}
	}
	p2 := entry(s.pending2, testNow.Add(time.Minute))
	p2.Mail.Attachments = []sdk.Attachment{{Filename: "df.txt", ContentType: "text/plain", Data: []byte(attachmentData)}}
	dead := entry(s.dead, testNow.Add(2*time.Minute))
	if err := ob.Enqueue(ctx, entry(s.pending1, testNow), p2, dead); err != nil {
		t.Fatal(err)
	}
	dead.State, dead.Hop, dead.Attempts, dead.TotalAttempts = outbox.Dead, 2, 0, 3
	dead.Last = &outbox.Attempt{
		At: testNow.Add(3 * time.Minute), Transport: "backup", Kind: "permanent", Code: "535 5.7.8",
		Reply: "535 5.7.8 Authentication unsuccessful", Remedy: "Check the password.", Error: "permanent error 535 5.7.8",
		Wait: 30 * time.Second,
	}
	if err := ob.Save(ctx, dead); err != nil {
		t.Fatal(err)
	}
	return s
}

// testNow is the clock of the seeded outbox.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// apiMux serves Routes(ob, kick) on a mux of its own; kick may be nil.
func apiMux(ob *outbox.Outbox, kick func()) *http.ServeMux {
	var k Kicker
	if kick != nil {
		k = KickFunc(kick)
	}
	mux := http.NewServeMux()
	for p, h := range Routes(ob, k) {
		mux.Handle(p, h)
	}
	return mux
}

// serve runs one request through h; remote is its RemoteAddr.
func serve(t *testing.T, h http.Handler, method, target, remote string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, target, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

const loopback = "127.0.0.1:50123"

func TestRoutes_list(t *testing.T) {
	s := seedOutbox(t)
	mux := apiMux(s.ob, nil)
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{name: "all, oldest first", query: "", want: []string{s.pending1, s.pending2, s.dead}},
		{name: "pending", query: "?state=pending", want: []string{s.pending1, s.pending2}},
		{name: "dead", query: "?state=dead", want: []string{s.dead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Reads answer the network too: the HA peer may look.
			code, body := serve(t, mux, http.MethodGet, "/v1/outbox"+tt.query, "192.0.2.7:4000")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			l := decode[List](t, body)
			var ids []string
			for _, e := range l.Entries {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
			if strings.Contains(string(body), attachmentData) || strings.Contains(string(body), "the body") {
				t.Errorf("the list serves the message's content: %s", body)
			}
		})
	}
	t.Run("unknown state", func(t *testing.T) {
		code, body := serve(t, mux, http.MethodGet, "/v1/outbox?state=sent", loopback)
		if e := decode[Error](t, body); code != http.StatusBadRequest || !strings.Contains(e.Message, `state "sent"`) {
			t.Errorf("status %d, body %s", code, body)
		}
	})
}

func TestRoutes_get(t *testing.T) {
	s := seedOutbox(t)
	mux := apiMux(s.ob, nil)

	code, body := serve(t, mux, http.MethodGet, "/v1/outbox/"+s.dead, loopback)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	want := Entry{
		ID: s.dead, Rule: "disk_full", Event: "fire", Contact: "ops", Via: []string{"primary", "backup"}, Hop: 2,
		Transport: "", State: "dead", EnqueuedAt: testNow.Add(2 * time.Minute), Attempts: 0, TotalAttempts: 3,
		Subject: "disk full on " + s.dead, To: []string{"Ops Team <ops@example.com>", "oncall@example.com"},
		Last: &Attempt{
			At: testNow.Add(3 * time.Minute), Transport: "backup", Kind: "permanent", Code: "535 5.7.8",
			Reply: "535 5.7.8 Authentication unsuccessful", Remedy: "Check the password.", Error: "permanent error 535 5.7.8",
			Wait: "30s",
		},
	}
	if got := decode[Entry](t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("dead entry =\n%+v\nwant\n%+v", got, want)
	}
	if strings.Contains(string(body), "next_attempt") {
		t.Errorf("a dead entry has no next attempt: %s", body)
	}

	code, body = serve(t, mux, http.MethodGet, "/v1/outbox/"+s.pending2, loopback)
	got := decode[Entry](t, body)
	if code != http.StatusOK || got.Transport != "primary" || got.State != "pending" || !got.NextAttempt.Equal(testNow) ||
		!reflect.DeepEqual(got.Attachments, []Attachment{{Name: "df.txt", Size: len(attachmentData)}}) || got.Last != nil {
		t.Errorf("status %d, pending entry %+v", code, got)
	}
	if strings.Contains(string(body), attachmentData) {
		t.Errorf("the attachment's bytes are served: %s", body)
	}

	code, body = serve(t, mux, http.MethodGet, "/v1/outbox/nope@example", loopback)
	if e := decode[Error](t, body); code != http.StatusNotFound || !strings.Contains(e.Message, "no such outbox entry") {
		t.Errorf("unknown id: status %d, body %s", code, body)
	}
}

func TestRoutes_retry(t *testing.T) {
	s := seedOutbox(t)
	kicks := 0
	mux := apiMux(s.ob, func() { kicks++ })

	code, body := serve(t, mux, http.MethodPost, "/v1/outbox/"+s.dead+"/retry", loopback)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	got := decode[Entry](t, body)
	if got.State != "pending" || got.Hop != 0 || got.Transport != "primary" || got.TotalAttempts != 3 || got.Last == nil || got.Last.Code != "535 5.7.8" {
		t.Errorf("retried entry %+v, want pending on primary with its record kept", got)
	}
	if kicks != 1 {
		t.Errorf("dispatcher kicked %d times, want 1", kicks)
	}
	e, err := s.ob.Get(s.dead)
	if err != nil || e.State != outbox.Pending || e.Hop != 0 {
		t.Errorf("stored entry %+v, %v", e, err)
	}
	due, _, err := s.ob.Due(0)
	if err != nil || len(due) != 3 {
		t.Errorf("due = %d entries, %v; want all 3", len(due), err)
	}

	code, body = serve(t, mux, http.MethodPost, "/v1/outbox/nope@example/retry", loopback)
	if code != http.StatusNotFound || kicks != 1 {
		t.Errorf("unknown id: status %d (%s), kicks %d", code, body, kicks)
	}
}

func TestRoutes_drop(t *testing.T) {
	s := seedOutbox(t)
	mux := apiMux(s.ob, nil)

	if code, body := serve(t, mux, http.MethodDelete, "/v1/outbox/"+s.pending1, loopback); code != http.StatusNoContent {
		t.Fatalf("status %d: %s", code, body)
	}
	if _, err := s.ob.Get(s.pending1); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("after drop: Get = %v, want ErrNotFound", err)
	}
	if st, err := s.ob.Stats(); err != nil || st.Pending != 1 || st.Dead != 1 {
		t.Errorf("stats %+v, %v", st, err)
	}
	code, body := serve(t, mux, http.MethodDelete, "/v1/outbox/"+s.pending1, loopback)
	if e := decode[Error](t, body); code != http.StatusNotFound || !strings.Contains(e.Message, "no such outbox entry") {
		t.Errorf("second drop: status %d, body %s", code, body)
	}
}

// TestRoutes_localOnly checks that retry and drop are LocalOnly
// (server's tests check LocalOnly itself).
func TestRoutes_localOnly(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		local  net.Addr // the connection's local address; nil for none
		ok     bool
	}{
		{name: "loopback", remote: "127.0.0.1:4000", ok: true},
		{name: "IPv6 loopback", remote: "[::1]:4000", ok: true},
		{name: "this host's own address", remote: "192.0.2.10:4000", local: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 9870}, ok: true},
		{name: "network", remote: "192.0.2.7:4000"},
		{name: "IPv6 network", remote: "[2001:db8::7]:4000"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				s := seedOutbox(t)
				mux := apiMux(s.ob, nil)
				target := "/v1/outbox/" + s.dead
				if method == http.MethodPost {
					target += "/retry"
				}
				req := httptest.NewRequest(method, target, nil)
				req.RemoteAddr = tt.remote
				if tt.local != nil {
					req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tt.local))
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				e, err := s.ob.Get(s.dead)
				changed := err != nil || e.State != outbox.Dead
				if tt.ok {
					if rec.Code >= 300 || !changed {
						t.Errorf("status %d (%s), entry changed %v; want it done", rec.Code, rec.Body, changed)
					}
					return
				}
				if rec.Code != http.StatusForbidden || changed {
					t.Errorf("status %d (%s), entry changed %v; want 403 and no change", rec.Code, rec.Body, changed)
				}
				if e := decode[Error](t, rec.Body.Bytes()); !strings.Contains(e.Message, "own host") {
					t.Errorf("error %q", e.Message)
				}
			})
		}
	}
}

func TestRoutes_closed(t *testing.T) {
	s := seedOutbox(t)
	mux := apiMux(s.ob, nil)
	if err := s.ob.Close(); err != nil {
		t.Fatal(err)
	}
	code, body := serve(t, mux, http.MethodGet, "/v1/outbox", loopback)
	if code != http.StatusServiceUnavailable || !strings.Contains(decode[Error](t, body).Message, "closed") {
		t.Errorf("status %d, body %s; want 503 while the agent stops", code, body)
	}
}

// TestRoutes_server goes through a real server.Listen on 127.0.0.1,
// with a Message-ID-shaped ID escaped in the path.
func TestRoutes_server(t *testing.T) {
	s := seedOutbox(t)
	var kicks atomic.Int32 // kicked on the server's goroutine
	srv, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok", Node: "n1"} },
		Routes: Routes(s.ob, KickFunc(func() { kicks.Add(1) })),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	do := func(method, path string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := do(http.MethodGet, "/v1/outbox?state=dead"); code != http.StatusOK || len(decode[List](t, body).Entries) != 1 {
		t.Errorf("list dead: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, "/v1/outbox/"+url.PathEscape(s.dead)+"/retry"); code != http.StatusOK || kicks.Load() != 1 {
		t.Errorf("retry from loopback: %d %s, kicks %d", code, body, kicks.Load())
	}
	if code, _ := do(http.MethodGet, "/v1/outbox/"+url.PathEscape(s.dead)+"/retry"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on retry: %d, want 405", code)
	}
	if code, body := do(http.MethodGet, "/healthz"); code != http.StatusOK || !strings.Contains(string(body), `"n1"`) {
		t.Errorf("healthz next to the routes: %d %s", code, body)
	}
}
