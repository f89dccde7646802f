package apiauth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Secrets of the matrix; none may show in a log line or an answer.
const (
	readSecret  = "read-token-0123456789abcdef"
	peerSecret  = "peer-token-0123456789abcdef"
	adminSecret = "admin-token-0123456789abcdef"
	wrongSecret = "wrong-token-0123456789abcdef"
)

// syncBuffer is a bytes.Buffer for a logger that handlers share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// whoami answers 200 with the principal Require put in the context.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s %v", p.Name, p.Role)
})

// routes serves whoami behind Require(read), Require(peer), Require(admin).
func routes(a *Authenticator) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/read", a.Require(RoleRead, whoami))
	mux.Handle("/peer", a.Require(RolePeer, whoami))
	mux.Handle("/admin", a.Require(RoleAdmin, whoami))
	return mux
}

func mustCred(t *testing.T) func(Credential, error) Credential {
	return func(c Credential, err error) Credential {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAuthenticator_Require_matrix(t *testing.T) {
	must := mustCred(t)
	ca := newCert(t, "tocsin test CA", nil, true)
	pinned := newCert(t, "partner", nil, false)
	unpinned := newCert(t, "stranger", nil, false)
	caClient := newCert(t, "monitoring", &ca, false)

	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
	a, err := NewAuthenticator([]Credential{
		must(NewToken("prometheus", RoleRead, readSecret)),
		must(NewToken("partner-token", RolePeer, peerSecret)),
		must(NewToken("ops", RoleAdmin, adminSecret)),
		must(NewCertPin("partner-cert", RolePeer, pinned.fingerprint())),
		must(NewVerifiedClients("ca-clients", RoleRead)),
	}, WithAudit(logger), WithFailureLimit(1000, time.Minute)) // the wrong cases must not reach 429
	if err != nil {
		t.Fatal(err)
	}
	h := routes(a)
	// Pins need a listener that asks for a certificate without verifying
	// it; the client CA one that verifies what it is given.
	pinSrv := startTLS(t, h, tls.RequestClientCert, nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	caSrv := startTLS(t, h, tls.VerifyClientCertIfGiven, pool)

	const ok, unauth, forbidden = http.StatusOK, http.StatusUnauthorized, http.StatusForbidden
	tests := []struct {
		name   string
		srv    *httptest.Server
		cert   *testCert
		auth   string // the Authorization header, if any
		who    string // the principal's name when allowed
		status [3]int // for /read, /peer, /admin
	}{
		{"no credential", pinSrv, nil, "", "", [3]int{unauth, unauth, unauth}},
		{"read token", pinSrv, nil, "Bearer " + readSecret, "prometheus", [3]int{ok, forbidden, forbidden}},
		{"peer token", pinSrv, nil, "Bearer " + peerSecret, "partner-token", [3]int{ok, ok, forbidden}},
		{"admin token", pinSrv, nil, "Bearer " + adminSecret, "ops", [3]int{ok, ok, ok}},
		{"admin token, lower-case scheme", pinSrv, nil, "bearer " + adminSecret, "ops", [3]int{ok, ok, ok}},
		{"wrong token", pinSrv, nil, "Bearer " + wrongSecret, "", [3]int{unauth, unauth, unauth}},
		{"token in basic auth", pinSrv, nil, basicAuth("prometheus", readSecret), "prometheus", [3]int{ok, forbidden, forbidden}},
		{"wrong token in basic auth", pinSrv, nil, basicAuth("ops", wrongSecret), "", [3]int{unauth, unauth, unauth}},
		{"token as basic user", pinSrv, nil, basicAuth(adminSecret, ""), "", [3]int{unauth, unauth, unauth}},
		{"pinned client cert", pinSrv, &pinned, "", "partner-cert", [3]int{ok, ok, forbidden}},
		{"unpinned client cert", pinSrv, &unpinned, "", "", [3]int{unauth, unauth, unauth}},
		{"CA client cert, no CA verification", pinSrv, &caClient, "", "", [3]int{unauth, unauth, unauth}},
		{"verified-by-CA client cert", caSrv, &caClient, "", "ca-clients", [3]int{ok, forbidden, forbidden}},
		{"wrong token beside a pinned cert", pinSrv, &pinned, "Bearer " + wrongSecret, "", [3]int{unauth, unauth, unauth}},
	}
	roles := [3]Role{RoleRead, RolePeer, RoleAdmin}
	for _, tt := range tests {
		for i, path := range []string{"/read", "/peer", "/admin"} {
			t.Run(tt.name+path, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, tt.srv.URL+path+"?q=1", nil)
				if err != nil {
					t.Fatal(err)
				}
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				resp, err := clientWith(tt.srv, tt.cert).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != tt.status[i] {
					t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.status[i], body)
				}
				for _, s := range []string{readSecret, peerSecret, adminSecret, wrongSecret} {
					if bytes.Contains(body, []byte(s)) {
						t.Errorf("answer holds a secret: %s", body)
					}
				}
				if resp.StatusCode == ok {
					if want := tt.who + " " + roleOfStatus(tt.status); string(body) != want {
						t.Errorf("body %q, want the principal %q", body, want)
					}
					return
				}
				checkJSONError(t, resp, body)
				var e struct{ Error string }
				_ = json.Unmarshal(body, &e)
				switch resp.StatusCode {
				case unauth:
					if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="tocsin"` {
						t.Errorf("WWW-Authenticate = %q", got)
					}
					for _, want := range []string{"the " + roles[i].String() + " role", "Authorization: Bearer TOKEN", "README, Security"} {
						if !strings.Contains(e.Error, want) {
							t.Errorf("error %q does not say %q", e.Error, want)
						}
					}
					if (tt.auth != "" || tt.cert != nil) != strings.Contains(e.Error, "not accepted") {
						t.Errorf("error %q: says a credential was not accepted wrongly", e.Error)
					}
				case forbidden:
					want := fmt.Sprintf("the credential %q has the %s role; this endpoint needs %s", tt.who, roleOfStatus(tt.status), roles[i])
					if !strings.Contains(e.Error, want) {
						t.Errorf("error %q, want it to hold %q", e.Error, want)
					}
				}
			})
		}
	}

	out := logs.String()
	for _, s := range []string{readSecret, peerSecret, adminSecret, wrongSecret} {
		if strings.Contains(out, s) {
			t.Errorf("a log line holds a secret:\n%s", out)
		}
	}
	// Audit: one line per request that passed Require(admin), none else.
	if n := strings.Count(out, "admin request"); n != 2 {
		t.Errorf("%d audit lines, want 2 (the admin token, twice):\n%s", n, out)
	}
	if !strings.Contains(out, "credential=ops method=GET path=/admin") {
		t.Errorf("audit line lacks who, method or path:\n%s", out)
	}
	if strings.Contains(out, "q=1") {
		t.Errorf("audit line holds the query:\n%s", out)
	}
}

// roleOfStatus returns the role a credential has, by the routes it may
// reach: the highest allowed.
func roleOfStatus(s [3]int) string {
	role := ""
	for i, r := range []Role{RoleRead, RolePeer, RoleAdmin} {
		if s[i] == http.StatusOK {
			role = r.String()
		}
	}
	return role
}

// checkJSONError checks the headers and shape of an error answer.
func checkJSONError(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("body %q is not {\"error\": \"...\"}: %v", body, err)
	}
}

// do serves one request from remote with the Authorization header auth
// (none when empty) through h.
func do(h http.Handler, remote, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.RemoteAddr = remote
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAuthenticator_Require_rateLimit(t *testing.T) {
	must := mustCred(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const max = 3
	a, err := NewAuthenticator([]Credential{must(NewToken("ops", RoleAdmin, adminSecret))},
		WithClock(func() time.Time { return now }), WithFailureLimit(max, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Require(RoleRead, whoami)
	const attacker, other = "192.0.2.1:40000", "192.0.2.2:40000"
	good, bad := "Bearer "+adminSecret, "Bearer "+wrongSecret

	// Requests without a credential guess nothing and are not counted.
	for range max + 2 {
		if rec := do(h, attacker, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("no credential: status %d, want 401", rec.Code)
		}
	}
	for i := range max {
		if rec := do(h, attacker, bad); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, rec.Code)
		}
	}
	now = now.Add(30 * time.Second)
	for _, auth := range []string{bad, good} {
		rec := do(h, attacker, auth)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("after %d failures: status %d, want 429", max, rec.Code)
		}
		if got := rec.Header().Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After = %q, want 30", got)
		}
		resp := rec.Result()
		checkJSONError(t, resp, rec.Body.Bytes())
	}
	// Another address is not held back, and the same host's other port
	// is.
	if rec := do(h, other, good); rec.Code != http.StatusOK {
		t.Fatalf("another address: status %d, want 200", rec.Code)
	}
	if rec := do(h, "192.0.2.1:40001", good); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("same address, other port: status %d, want 429", rec.Code)
	}
	// When the window ends, the address may try again.
	now = now.Add(30 * time.Second)
	if rec := do(h, attacker, good); rec.Code != http.StatusOK {
		t.Fatalf("after the window: status %d, want 200", rec.Code)
	}
}

func TestAuthenticator_Require_rateLimitIPv6(t *testing.T) {
	must := mustCred(t)
	a, err := NewAuthenticator([]Credential{must(NewToken("ops", RoleAdmin, adminSecret))}, WithFailureLimit(2, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Require(RoleRead, whoami)
	do(h, "[2001:db8::1]:1", "Bearer "+wrongSecret)
	do(h, "[2001:db8::2]:1", "Bearer "+wrongSecret)
	if rec := do(h, "[2001:db8::3]:1", "Bearer "+adminSecret); rec.Code != http.StatusTooManyRequests {
		t.Errorf("same /64: status %d, want 429", rec.Code)
	}
	if rec := do(h, "[2001:db8:0:1::1]:1", "Bearer "+adminSecret); rec.Code != http.StatusOK {
		t.Errorf("other /64: status %d, want 200", rec.Code)
	}
}

func TestLimiter_cap(t *testing.T) {
	l := newLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxClients + 100 {
		key, _ := clientKey(fmt.Sprintf("10.%d.%d.%d:1", i>>16&0xff, i>>8&0xff, i&0xff))
		l.fail(key, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.clients); n > maxClients {
		t.Fatalf("%d entries, want at most %d", n, maxClients)
	}
	first, _ := clientKey("10.0.0.0:1")
	if _, ok := l.clients[first]; ok {
		t.Errorf("the oldest entry was kept when the table was full")
	}
	// Expired entries go first, all at once.
	l.fail(first, now.Add(2*time.Minute))
	if n := len(l.clients); n != 1 {
		t.Errorf("%d entries after all expired, want 1", n)
	}
}

func TestAuthenticator_Require_invalidRole(t *testing.T) {
	must := mustCred(t)
	a, err := NewAuthenticator([]Credential{must(NewToken("peer", RolePeer, peerSecret))})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []Role{0, RoleAdmin + 1} {
		if rec := do(a.Require(role, whoami), "127.0.0.1:1", "Bearer "+peerSecret); rec.Code != http.StatusForbidden {
			t.Errorf("Require(%v): status %d for a peer, want 403 (taken as admin)", role, rec.Code)
		}
	}
}
