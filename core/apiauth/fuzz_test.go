package apiauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fixedAnswers are the answers Require gives without any header and with
// a wrong one, for telling an echo from a coincidence.
var fixedAnswers = func() string {
	c, _ := NewToken("admin", RoleAdmin, "the-admin-token-0123456789")
	a, _ := NewAuthenticator([]Credential{c})
	h := a.Require(RoleRead, http.NotFoundHandler())
	var b strings.Builder
	for _, auth := range []string{"", "Bearer wrong"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b.WriteString(w.Body.String())
	}
	return b.String()
}()

// FuzzRequire: whatever Authorization headers a caller sends, Require
// never panics, lets a request through only with the one configured
// token (as a bearer token or a basic auth password), answers everything
// else with 401 (or 429 once the address failed too often) as JSON, and
// never echoes the header.
func FuzzRequire(f *testing.F) {
	const secret = "the-admin-token-0123456789"
	f.Add("Bearer "+secret, "", "10.0.0.1:1234")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("prom:"+secret)), "", "10.0.0.1:1")
	f.Add("bearer "+secret+" ", "Bearer x", "[::1]:9")
	f.Add("Basic !!!", "", "bad")
	f.Add("", "", "")
	f.Add("Bearer "+strings.Repeat("a", 5000), "", "127.0.0.1:5")
	f.Fuzz(func(t *testing.T, auth, second, remote string) {
		c, err := NewToken("admin", RoleAdmin, secret)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAuthenticator([]Credential{c}, WithClock(func() time.Time { return time.Unix(0, 0) }))
		if err != nil {
			t.Fatal(err)
		}
		passed := false
		h := a.Require(RoleRead, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true }))
		r := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header.Add("Authorization", auth)
		}
		if second != "" {
			r.Header.Add("Authorization", second)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		p, aerr := a.Authenticate(r)
		valid := aerr == nil
		if passed != valid || (valid && (p.Name != "admin" || p.Role != RoleAdmin)) {
			t.Fatalf("passed %v, Authenticate %+v %v (header %q, %q)", passed, p, aerr, auth, second)
		}
		if valid {
			if second != "" {
				t.Fatalf("two Authorization headers passed: %q, %q", auth, second)
			}
			return
		}
		if w.Code != http.StatusUnauthorized && w.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d for %q", w.Code, auth)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		body := w.Body.String()
		// The fixed texts of the answers may hold short pieces of a
		// header by chance: only a header that no answer holds by
		// itself counts as echoed.
		if len(auth) >= 8 && strings.Contains(body, auth) && !strings.Contains(fixedAnswers, auth) {
			t.Fatalf("the answer echoes the header: %s", body)
		}
		if !errors.Is(aerr, ErrNoCredential) && !errors.Is(aerr, ErrBadCredential) {
			t.Fatalf("error %v is neither no nor a bad credential", aerr)
		}
	})
}
