package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// delegatedApp is a public client for delegated SMTP with a loopback
// redirect URI.
func delegatedApp() testserver.MicrosoftApp {
	return testserver.MicrosoftApp{
		Tenant: testTenant, ClientID: testApp, Name: "Tocsin", Public: true, User: testUser,
		DelegatedScopes: []string{testserver.MicrosoftScopeSMTPSend},
		RedirectURIs:    []string{"http://localhost/callback"},
	}
}

func delegatedConfig(m *testserver.MicrosoftIdentity) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    testApp,
		Endpoint:    MicrosoftEndpoint(m.URL(), testTenant),
		RedirectURL: "http://localhost:8400/callback",
		Scopes:      []string{testserver.MicrosoftScopeSMTPSend, "offline_access"},
	}
}

// loginMicrosoft runs the authorization-code flow with PKCE against the
// auto-consenting stand-in, as "tocsin oauth login" does, and returns the
// refresh token.
func loginMicrosoft(t *testing.T, e *env, m *testserver.MicrosoftIdentity, cfg *oauth2.Config) string {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	noRedirect := *e.hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", testUser)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s, Location %v", resp.Status, err)
	}
	if loc.Query().Get("state") != "st4te" {
		t.Fatalf("state %q", loc.Query().Get("state"))
	}
	tok, err := cfg.Exchange(withClient(t.Context(), e.hc), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token from the code grant")
	}
	return tok.RefreshToken
}

// rotations records the refresh tokens passed to onRotate.
type rotations struct {
	mu  sync.Mutex
	got []string
}

func (r *rotations) add(s string) { r.mu.Lock(); r.got = append(r.got, s); r.mu.Unlock() }
func (r *rotations) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestRefresher_microsoftRotation(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{}, delegatedApp())
	cfg := delegatedConfig(m)
	rt0 := loginMicrosoft(t, e, m, cfg)

	var rot rotations
	fetch := Refresher(cfg, e.hc, rt0, rot.add)
	for i := 1; i <= 3; i++ {
		tok, err := fetch(t.Context())
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err) // fails from the 2nd on if the rotated token is not used
		}
		if tok.RefreshToken != "" {
			t.Errorf("fetch %d: the returned token carries the refresh token", i)
		}
		c, err := m.Validate(tok.AccessToken)
		if err != nil || c.User != testUser || c.Scope != delegated {
			t.Errorf("fetch %d: claims %+v, %v", i, c, err)
		}
		got := rot.list()
		if len(got) != i || got[i-1] == rt0 || (i > 1 && got[i-1] == got[i-2]) {
			t.Fatalf("fetch %d: onRotate calls %d, want %d with new tokens", i, len(got), i)
		}
	}
	// The agent stores the last rotated token; a Refresher made from it at
	// the next start works, one made from the first token does not.
	last := rot.list()[2]
	if _, err := Refresher(cfg, e.hc, last, nil)(t.Context()); err != nil {
		t.Errorf("refresh with the stored rotated token: %v", err)
	}
	_, err := Refresher(cfg, e.hc, rt0, nil)(t.Context())
	if de := Classify(err); de.Kind != sdk.Permanent || de.Code != "AADSTS70000" {
		t.Errorf("refresh with the spent token: %+v", de)
	}
	if n := m.Requests(testserver.GrantRefreshToken); n != 5 {
		t.Errorf("%d refresh requests, want 5", n)
	}
}

func TestRefresher_googleNoRotation(t *testing.T) {
	e := newEnv(t)
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	file, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := GoogleClient(file, "https://mail.google.com/")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := g.NewRefreshToken(cfg.ClientID, testUser, "https://mail.google.com/")
	if err != nil {
		t.Fatal(err)
	}
	var rot rotations
	fetch := Refresher(cfg, e.hc, rt, rot.add)
	for range 2 {
		tok, err := fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c, err := g.Validate(tok.AccessToken)
		if err != nil || c.Subject != testUser || !slices.Equal(c.Scopes, []string{"https://mail.google.com/"}) {
			t.Errorf("claims %+v, %v", c, err)
		}
	}
	if got := rot.list(); len(got) != 0 {
		t.Errorf("onRotate called %d times without rotation", len(got))
	}
	if n := g.Counts().RefreshToken; n != 2 {
		t.Errorf("%d refresh requests", n)
	}
}

func TestRefresher_noToken(t *testing.T) {
	_, err := Refresher(&oauth2.Config{}, nil, "", nil)(t.Context())
	if err == nil {
		t.Fatal("no error without a refresh token")
	}
}

// TestRefresher_waiterHonoursContext: a fetch that waits for another
// fetch of the same Refresher (a rotated refresh token works once) returns
// when its context ends, instead of waiting for a slow token endpoint.
func TestRefresher_waiterHonoursContext(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var startOnce, releaseOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startOnce.Do(func() { close(started) })
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"a","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // runs before srv.Close
	fetch := Refresher(&oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}, srv.Client(), "r1", nil)

	first := make(chan error, 1)
	go func() {
		_, err := fetch(context.Background())
		first <- err
	}()
	<-started

	ctx := newWaitCtx()
	waiter := make(chan error, 1)
	go func() {
		_, err := fetch(ctx)
		waiter <- err
	}()
	select {
	case <-ctx.asked:
	case err := <-waiter:
		t.Fatalf("waiter returned %v while the first fetch runs", err)
	case <-time.After(failAfter):
		t.Fatal("the waiter never asked for its context's Done channel while the first fetch ran: it cannot return when the context ends")
	}
	ctx.end(context.Canceled)
	select {
	case err := <-waiter:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("waiter got %v, want context.Canceled", err)
		}
	case <-time.After(failAfter):
		t.Fatal("waiter did not return when its context ended")
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-first; err != nil {
		t.Errorf("first fetch: %v", err)
	}
}
