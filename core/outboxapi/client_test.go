package outboxapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/outbox"
)

// The tokens of the test server's credentials.
const (
	adminToken = "admin-token-0123456789abcdef0123456789"
	readToken  = "read-token-0123456789abcdef0123456789ab"
)

// tokenDoer sends every request with a bearer token ("" for none).
type tokenDoer struct {
	token string
	c     *http.Client
}

func (d tokenDoer) Do(req *http.Request) (*http.Response, error) {
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	return d.c.Do(req)
}

// apiServer serves Routes(st, kick) on 127.0.0.1, each route guarded as
// the agent guards it (the admin role), with an admin and a read
// credential. It returns the server.
func apiServer(t *testing.T, st Store, kick Kicker) *httptest.Server {
	t.Helper()
	var creds []apiauth.Credential
	for _, c := range []struct {
		name, token string
		role        apiauth.Role
	}{{"admin", adminToken, apiauth.RoleAdmin}, {"reader", readToken, apiauth.RoleRead}} {
		cr, err := apiauth.NewToken(c.name, c.role, c.token)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, cr)
	}
	auth, err := apiauth.NewAuthenticator(creds)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range Routes(st, kick) {
		mux.Handle(p, auth.Require(apiauth.RoleAdmin, h))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// client returns a client of srv that sends token.
func client(srv *httptest.Server, token string) *Client {
	return NewClient(srv.URL, tokenDoer{token: token, c: srv.Client()})
}

// asJSON is v as the API serves it, to compare views whose times went
// through JSON.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClient_calls: each call reaches its route and returns what the
// server holds.
func TestClient_calls(t *testing.T) {
	s := seedOutbox(t)
	var kicks atomic.Int32
	srv := apiServer(t, s.ob, KickFunc(func() { kicks.Add(1) }))
	c := client(srv, adminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tt := range []struct {
		state outbox.State
		want  []string
	}{
		{"", []string{s.pending1, s.pending2, s.dead}},
		{outbox.Pending, []string{s.pending1, s.pending2}},
		{outbox.Dead, []string{s.dead}},
	} {
		l, err := c.List(ctx, tt.state)
		if err != nil {
			t.Fatalf("List(%q): %v", tt.state, err)
		}
		var ids []string
		for _, e := range l {
			ids = append(ids, e.ID)
		}
		if strings.Join(ids, " ") != strings.Join(tt.want, " ") {
			t.Errorf("List(%q) = %v, want %v", tt.state, ids, tt.want)
		}
	}

	got, err := c.Get(ctx, s.dead)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.ob.Get(s.dead)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := asJSON(t, got), asJSON(t, NewEntry(stored)); g != w {
		t.Errorf("Get =\n%s\nwant\n%s", g, w)
	}

	got, err = c.Retry(ctx, s.dead)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.dead || got.State != string(outbox.Pending) || got.Transport != "primary" || got.TotalAttempts != 3 || kicks.Load() != 1 {
		t.Errorf("Retry = %+v, kicks %d; want it pending on primary, one kick", got, kicks.Load())
	}

	if err := c.Drop(ctx, s.pending1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ob.Get(s.pending1); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("after Drop: %v, want ErrNotFound", err)
	}
}

// TestClient_errors: every error answer of the server is a *StatusError
// whose text is the server's, or says what was refused or asked.
func TestClient_errors(t *testing.T) {
	tests := []struct {
		name  string
		token string
		// closed closes the outbox before the call.
		closed bool
		call   func(context.Context, *Client) error
		code   int
		want   []string
		// exact, when set, is the whole error text.
		exact string
	}{
		{
			name: "unknown entry", token: adminToken,
			call:  func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, "nope@example"); return err },
			code:  http.StatusNotFound,
			exact: `get outbox entry "nope@example": no such outbox entry`,
		},
		{
			name: "unknown entry, its ID escaped", token: adminToken,
			call: func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, "a/b?c@example"); return err },
			code: http.StatusNotFound, want: []string{`get outbox entry "a/b?c@example"`, "no such outbox entry"},
		},
		{
			name: "retry an unknown entry", token: adminToken,
			call: func(ctx context.Context, c *Client) error { _, err := c.Retry(ctx, "nope@example"); return err },
			code: http.StatusNotFound, want: []string{`retry outbox entry "nope@example"`, "no such outbox entry"},
		},
		{
			name: "drop an unknown entry", token: adminToken,
			call: func(ctx context.Context, c *Client) error { return c.Drop(ctx, "nope@example") },
			code: http.StatusNotFound, want: []string{"no such outbox entry"},
		},
		{
			name: "unknown state", token: adminToken,
			call: func(ctx context.Context, c *Client) error { _, err := c.List(ctx, "sent"); return err },
			code: http.StatusBadRequest, exact: `state "sent" is not "pending" or "dead"`,
		},
		{
			name: "outbox closed", token: adminToken, closed: true,
			call: func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err },
			code: http.StatusServiceUnavailable, want: []string{"closed"},
		},
		{
			name: "no credential",
			call: func(ctx context.Context, c *Client) error { _, err := c.List(ctx, outbox.Dead); return err },
			code: http.StatusUnauthorized,
			want: []string{"GET /v1/outbox?state=dead: the agent refused the request (401 Unauthorized): ", "needs a credential with the admin role"},
		},
		{
			name: "wrong token", token: "wrong-token-0123456789abcdef0123456789",
			call: func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, "x@example"); return err },
			code: http.StatusUnauthorized,
			want: []string{"GET /v1/outbox/x@example: the agent refused the request (401 Unauthorized): ", "the credential was not accepted"},
		},
		{
			name: "read role", token: readToken,
			call: func(ctx context.Context, c *Client) error { return c.Drop(ctx, "x@example") },
			code: http.StatusForbidden,
			want: []string{"DELETE /v1/outbox/x@example: the agent refused the request (403 Forbidden): ", `the credential "reader" has the read role`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seedOutbox(t)
			srv := apiServer(t, s.ob, nil)
			if tt.closed {
				if err := s.ob.Close(); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tt.call(ctx, client(srv, tt.token))
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T); want a *StatusError", err, err)
			}
			if se.StatusCode != tt.code || se.Refused() != (tt.code == 401 || tt.code == 403) {
				t.Errorf("status %d (%s), refused %v; want %d", se.StatusCode, se.Status, se.Refused(), tt.code)
			}
			if tt.exact != "" && err.Error() != tt.exact {
				t.Errorf("error %q; want %q", err, tt.exact)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want %q", err, w)
				}
			}
			for _, secret := range []string{adminToken, readToken, tt.token} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a token: %v", err)
				}
			}
			// The entries are as they were.
			if !tt.closed {
				if st, err := s.ob.Stats(); err != nil || st.Pending != 2 || st.Dead != 1 {
					t.Errorf("stats %+v, %v; want nothing changed", st, err)
				}
			}
		})
	}
}

// TestClient_notTheAPI: an answer that is not the API's says what was
// asked where, and an unreadable one which call it answered.
func TestClient_notTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == Path {
			_, _ = w.Write([]byte("not JSON"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, srv.Client())
	ctx := context.Background()

	_, err := c.Get(ctx, "x@example")
	var se *StatusError
	want := "GET " + srv.URL + "/v1/outbox/x@example: 404 Not Found: 404 page not found (is the agent older than this tocsin?)"
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || err.Error() != want {
		t.Errorf("error %q; want a *StatusError %q", err, want)
	}

	_, err = c.List(ctx, "")
	if err == nil || errors.As(err, &se) || !strings.HasPrefix(err.Error(), "read the agent's answer to GET /v1/outbox: ") {
		t.Errorf("error %v; want the undecodable answer named", err)
	}
}

// TestClient_unreachable: the Doer's error is returned as it is.
func TestClient_unreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base, hc := srv.URL, srv.Client()
	srv.Close()
	_, err := NewClient(base, hc).List(context.Background(), "")
	var ue *url.Error
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), strings.TrimPrefix(base, "http://")) {
		t.Errorf("error %v (%T); want the *url.Error of the dial", err, err)
	}
}
