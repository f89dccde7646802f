package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// canned answers every request with status, headers and body.
func canned(t *testing.T, e *env, status int, body string, header ...string) string {
	t.Helper()
	srv := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	return srv.URL
}

// msBody is a Microsoft token endpoint error body.
func msBody(code string, aadsts int, desc string) string {
	b, _ := json.Marshal(map[string]any{
		"error":             code,
		"error_description": "AADSTS" + itoa(aadsts) + ": " + desc + " Trace ID: 0b5e7c4a-1f7e-4a52-9a3c-2c1e5b0a4d00 Correlation ID: 5d7e2a44-6f0b-4a0c-b1de-7d3a2f8e9c11 Timestamp: 2026-03-01 10:00:00Z",
		"error_codes":       []int{aadsts},
	})
	return string(b)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestClassify provokes each token endpoint error from the stand-ins (or,
// for the few the stand-ins do not produce, from a server answering the
// provider's documented reply) and checks the classification, and that no
// secret appears in anything Classify or the Fetcher produce.
func TestClassify(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{})
	cf, other := newCertFiles(t), newCertFiles(t)
	wrongSecret := "Qx8Q~WRONG.secret-value_also-do-not-leak-987"
	var secrets []string // everything that must never show
	secrets = append(secrets, testSecret, wrongSecret, cf.keyPEM, other.keyPEM)

	add := func(a testserver.MicrosoftApp) {
		t.Helper()
		if err := m.AddApp(a); err != nil {
			t.Fatal(err)
		}
	}
	app := func(tenant, id string, mutate func(*testserver.MicrosoftApp)) testserver.MicrosoftApp {
		a := appApp()
		a.Tenant, a.ClientID = tenant, id
		if mutate != nil {
			mutate(&a)
		}
		add(a)
		return a
	}
	app(testTenant, testApp, nil)
	app(testTenant, "expired", func(a *testserver.MicrosoftApp) { a.SecretExpired = true })
	app(testTenant, "noconsent", func(a *testserver.MicrosoftApp) { a.ConsentMissing = true })
	app(testTenant, "nocert", func(a *testserver.MicrosoftApp) { a.Secret = "" })
	app(testTenant, "othercert", func(a *testserver.MicrosoftApp) { a.Secret, a.Certificate = "", other.cert })
	app(testTenant, "cert", func(a *testserver.MicrosoftApp) { a.Secret, a.Certificate = "", cf.cert })

	// Delegated apps whose registration changes after the login.
	login := func(id string) string {
		t.Helper()
		d := delegatedApp()
		d.ClientID = id
		add(d)
		cfg := delegatedConfig(m)
		cfg.ClientID = id
		rt := loginMicrosoft(t, e, m, cfg)
		secrets = append(secrets, rt)
		return rt
	}
	rtSecDefaults, rtConfidential, rtSpent := login("secdefaults"), login("confidential"), login("spent")
	d := delegatedApp()
	d.ClientID, d.SecurityDefaults = "secdefaults", true
	add(d)
	d = delegatedApp()
	d.ClientID, d.Public, d.Secret = "confidential", false, testSecret
	add(d)
	refresh := func(id, rt string) func(t *testing.T) error {
		return func(t *testing.T) error {
			cfg := delegatedConfig(m)
			cfg.ClientID = id
			_, err := Refresher(cfg, e.hc, rt, func(s string) { secrets = append(secrets, s) })(t.Context())
			return err
		}
	}
	spend := refresh("spent", rtSpent)
	if err := spend(t); err != nil {
		t.Fatal(err)
	}

	// A stand-in whose clock is an hour ahead rejects our assertions.
	late := e.microsoft(t, testserver.MicrosoftOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err := late.AddApp(testserver.MicrosoftApp{Tenant: testTenant, ClientID: "cert", Certificate: cf.cert, AppScopes: []string{testserver.MicrosoftScopeSMTPApp}}); err != nil {
		t.Fatal(err)
	}

	msFetch := func(a MicrosoftApp) func(t *testing.T) error {
		return func(t *testing.T) error {
			if a.Authority == "" {
				a.Authority = m.URL()
			}
			if a.Tenant == "" {
				a.Tenant = testTenant
			}
			if a.ClientID == "" {
				a.ClientID = testApp
			}
			if a.ClientSecret == "" && a.CertificateFile == "" {
				a.ClientSecret = testSecret
			}
			if a.Scopes == nil {
				a.Scopes = []string{testserver.MicrosoftScopeSMTPApp}
			}
			f, err := a.Fetcher(e.hc)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f(t.Context())
			if tok != nil {
				secrets = append(secrets, tok.AccessToken)
			}
			return err
		}
	}
	withCert := func(id string) MicrosoftApp {
		return MicrosoftApp{ClientID: id, CertificateFile: cf.certFile, KeyFile: cf.keyFile}
	}
	localhost := withCert("cert")
	localhost.Authority = strings.Replace(m.URL(), "127.0.0.1", "localhost", 1)
	lateCert := withCert("cert")
	lateCert.Authority = late.URL()

	// Google.
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	saKey, err := g.NewServiceAccount("tocsin", []string{scopeGmailSend}, testUser)
	if err != nil {
		t.Fatal(err)
	}
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(saKey, &sa); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, sa.PrivateKey)
	saFetch := func(key []byte, subject string, scopes ...string) func(t *testing.T) error {
		return func(t *testing.T) error {
			f, err := GoogleServiceAccount(key, subject, e.hc, scopes...)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f(t.Context())
			if tok != nil {
				secrets = append(secrets, tok.AccessToken)
			}
			return err
		}
	}
	clientFile, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	gcfg, err := GoogleClient(clientFile, scopeMail)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, gcfg.ClientSecret)
	newRT := func() string {
		rt, err := g.NewRefreshToken(gcfg.ClientID, testUser, scopeMail)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, rt)
		return rt
	}
	revoked := newRT()
	g.RevokeRefreshToken(revoked)
	gRefresh := func(cfg oauth2.Config, rt string) func(t *testing.T) error {
		return func(t *testing.T) error {
			_, err := Refresher(&cfg, e.hc, rt, nil)(t.Context())
			return err
		}
	}
	badSecret := *gcfg
	badSecret.ClientSecret = "GOCSPX-" + wrongSecret
	deleted := *gcfg
	deleted.ClientID = "999-deleted.apps.googleusercontent.com"

	// A key whose private key no longer matches the registered one, and a
	// key of a deleted account.
	other2, err := g.NewServiceAccount("other", nil)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(other2, &o); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, o.PrivateKey)
	swappedKey := editJSON(t, saKey, map[string]any{"private_key": o.PrivateKey})
	unknownAccount := editJSON(t, saKey, map[string]any{"client_email": "gone@tocsin-test.iam.gserviceaccount.com"})

	// Canned replies for what the stand-ins do not produce.
	cannedRefresh := func(status int, body string, header ...string) func(t *testing.T) error {
		return func(t *testing.T) error {
			u := canned(t, e, status, body, header...)
			cfg := &oauth2.Config{ClientID: testApp, Endpoint: oauth2.Endpoint{TokenURL: u + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			_, err := Refresher(cfg, e.hc, rtConfidential, nil)(t.Context())
			return err
		}
	}

	loginAgain := []string{`run "tocsin oauth login"`}
	tests := []struct {
		name       string
		provoke    func(t *testing.T) error
		kind       sdk.Kind
		code       string
		remedy     []string // substrings of the remedy
		replyStart string
		retryAfter time.Duration
	}{
		// Microsoft, from the stand-in.
		{"MS wrong secret", msFetch(MicrosoftApp{ClientSecret: wrongSecret}), sdk.Permanent, "AADSTS7000215", []string{"Value", "not its Secret ID"}, "invalid_client: AADSTS7000215: Invalid client secret provided.", 0},
		{"MS expired secret", msFetch(MicrosoftApp{ClientID: "expired"}), sdk.Permanent, "AADSTS7000222", []string{"expired", "create a new one"}, "invalid_client: AADSTS7000222:", 0},
		{"MS unknown client", msFetch(MicrosoftApp{ClientID: "99999999-0000-0000-0000-000000000000"}), sdk.Permanent, "AADSTS700016", []string{"client_id", "tenant_id", "consent"}, "unauthorized_client: AADSTS700016:", 0},
		{"MS unknown tenant", msFetch(MicrosoftApp{Tenant: "fabrikam.example"}), sdk.Permanent, "AADSTS90002", []string{"tenant_id", "authority"}, "invalid_request: AADSTS90002: Tenant 'fabrikam.example' not found.", 0},
		{"MS consent missing", msFetch(MicrosoftApp{ClientID: "noconsent"}), sdk.Permanent, "AADSTS65001", []string{"Grant admin consent"}, "invalid_grant: AADSTS65001:", 0},
		{"MS security defaults", refresh("secdefaults", rtSecDefaults), sdk.Permanent, "AADSTS530035", []string{"security defaults", "app-only"}, "invalid_grant: AADSTS530035:", 0},
		{"MS scope not granted", msFetch(MicrosoftApp{Scopes: []string{"https://graph.microsoft.com/.default"}}), sdk.Permanent, "AADSTS70011", []string{"scope", "/.default"}, "invalid_scope: AADSTS70011:", 0},
		{"MS scope without .default", msFetch(MicrosoftApp{Scopes: []string{testserver.MicrosoftScopeSMTPSend}}), sdk.Permanent, "AADSTS1002012", []string{"/.default"}, "invalid_scope: AADSTS1002012:", 0},
		{"MS confidential app without secret", refresh("confidential", rtConfidential), sdk.Permanent, "AADSTS7000218", []string{"client_secret or client_certificate", "Allow public client flows"}, "invalid_client: AADSTS7000218:", 0},
		{"MS no certificate registered", msFetch(withCert("nocert")), sdk.Permanent, "AADSTS700027", []string{"upload the certificate", "client_key"}, "invalid_client: AADSTS700027:", 0},
		{"MS other certificate registered", msFetch(withCert("othercert")), sdk.Permanent, "AADSTS700027", []string{"upload the certificate"}, "invalid_client: AADSTS700027: Client assertion failed signature validation.", 0},
		{"MS assertion audience", msFetch(localhost), sdk.Permanent, "AADSTS700212", []string{"tenant_id", "authority"}, "invalid_client: AADSTS700212:", 0},
		{"MS assertion time", msFetch(lateCert), sdk.Permanent, "AADSTS700024", []string{"clock"}, "invalid_client: AADSTS700024:", 0},
		{"MS spent refresh token", spend, sdk.Permanent, "AADSTS70000", loginAgain, "invalid_grant: AADSTS70000:", 0},

		// Microsoft, documented replies the stand-in does not produce.
		{"MS refresh token expired", cannedRefresh(400, msBody("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")), sdk.Permanent, "AADSTS70008", loginAgain, "invalid_grant: AADSTS70008:", 0},
		{"MS refresh token revoked", cannedRefresh(400, msBody("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed.")), sdk.Permanent, "AADSTS50173", loginAgain, "invalid_grant: AADSTS50173:", 0},
		{"MS refresh token expired (max age)", cannedRefresh(400, msBody("invalid_grant", 700082, "The refresh token has expired due to inactivity.")), sdk.Permanent, "AADSTS700082", loginAgain, "invalid_grant: AADSTS700082:", 0},
		{"MS conditional access", cannedRefresh(400, msBody("invalid_grant", 53003, "Access has been blocked by Conditional Access policies.")), sdk.Permanent, "AADSTS53003", []string{"Conditional Access"}, "invalid_grant: AADSTS53003:", 0},
		{"MS unknown invalid_grant", cannedRefresh(400, msBody("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")), sdk.Permanent, "AADSTS54005", loginAgain, "invalid_grant: AADSTS54005:", 0},
		{"MS unknown code", cannedRefresh(400, msBody("invalid_request", 9002313, "Invalid request.")), sdk.Permanent, "AADSTS9002313", []string{"https://login.microsoftonline.com/error?code=9002313"}, "invalid_request: AADSTS9002313:", 0},
		{"MS code only in description", cannedRefresh(401, `{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired."}`), sdk.Permanent, "AADSTS7000222", []string{"create a new one"}, "invalid_client: AADSTS7000222:", 0},

		// Google, from the stand-in.
		{"Google subject not delegated", saFetch(saKey, "boss@contoso.example", scopeGmailSend), sdk.Permanent, "unauthorized_client", []string{"Domain-wide delegation", "24 hours"}, "unauthorized_client: Client is unauthorized to retrieve access tokens", 0},
		{"Google scope not delegated", saFetch(saKey, testUser, scopeMail), sdk.Permanent, "unauthorized_client", []string{"exactly these scopes"}, "unauthorized_client:", 0},
		{"Google key deleted", saFetch(swappedKey, testUser, scopeGmailSend), sdk.Permanent, "invalid_grant", []string{"create a new key"}, "invalid_grant: Invalid JWT Signature.", 0},
		{"Google account deleted", saFetch(unknownAccount, testUser, scopeGmailSend), sdk.Permanent, "invalid_grant", []string{"service account key"}, "invalid_grant: Invalid grant: account not found", 0},
		{"Google empty scope", saFetch(saKey, testUser, ""), sdk.Permanent, "invalid_scope", []string{"https://mail.google.com/", "gmail.send"}, "invalid_scope:", 0},
		{"Google refresh token revoked", gRefresh(*gcfg, revoked), sdk.Permanent, "invalid_grant", []string{`run "tocsin oauth login"`, "Testing"}, "invalid_grant: Token has been expired or revoked.", 0},
		{"Google wrong client secret", gRefresh(badSecret, newRT()), sdk.Permanent, "invalid_client", []string{"download the client's JSON again"}, "invalid_client: Unauthorized", 0},
		{"Google deleted client", gRefresh(deleted, newRT()), sdk.Permanent, "invalid_client", []string{"deleted"}, "invalid_client: The OAuth client was not found.", 0},

		// Google, documented replies the stand-in does not produce.
		{"Google access denied", cannedRefresh(400, `{"error":"access_denied","error_description":"Requested client not authorized."}`), sdk.Permanent, "access_denied", []string{"consent"}, "access_denied: Requested client not authorized.", 0},
		{"Google admin policy", cannedRefresh(400, `{"error":"admin_policy_enforced","error_description":"Access blocked by admin policy."}`), sdk.Permanent, "admin_policy_enforced", []string{"Admin console"}, "admin_policy_enforced:", 0},

		// Temporary.
		{"HTTP 503", cannedRefresh(503, "<html><body>Service Unavailable</body></html>", "Retry-After", "7"), sdk.Temporary, "HTTP 503", []string{"retries"}, "HTTP 503 Service Unavailable", 7 * time.Second},
		{"HTTP 429", cannedRefresh(429, "", "Retry-After", "2"), sdk.Temporary, "HTTP 429", []string{"throttling"}, "HTTP 429 Too Many Requests", 2 * time.Second},
		{"HTTP 500 JSON", cannedRefresh(500, `{"error":"server_error","error_description":"AADSTS90033: A transient error has occurred. Please try again."}`), sdk.Temporary, "server_error", []string{"retries"}, "server_error: AADSTS90033", 0},
		{"temporarily_unavailable", cannedRefresh(400, `{"error":"temporarily_unavailable","error_description":"try later"}`), sdk.Temporary, "temporarily_unavailable", []string{"retries"}, "temporarily_unavailable: try later", 0},
		{"HTTP 400 without JSON", cannedRefresh(400, "Bad Request"), sdk.Permanent, "HTTP 400", []string{"refused"}, "HTTP 400 Bad Request", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.provoke(t)
			if err == nil {
				t.Fatal("no error")
			}
			de := Classify(err)
			if de.Kind != tt.kind || de.Code != tt.code {
				t.Errorf("Kind %v, Code %q; want %v, %q (error %v)", de.Kind, de.Code, tt.kind, tt.code, err)
			}
			for _, r := range tt.remedy {
				if !strings.Contains(de.Remedy, r) {
					t.Errorf("Remedy %q lacks %q", de.Remedy, r)
				}
			}
			if !strings.HasPrefix(de.Reply, tt.replyStart) {
				t.Errorf("Reply %q, want it to start with %q", de.Reply, tt.replyStart)
			}
			if de.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", de.RetryAfter, tt.retryAfter)
			}
			var re *oauth2.RetrieveError
			if !errors.As(de, &re) || de.Err != err {
				t.Error("the DeliveryError does not wrap the original *oauth2.RetrieveError")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
			noSecrets(t, tt.name, []string{err.Error(), de.Error(), de.Reply, de.Remedy, de.Code}, secrets...)
		})
	}
	if len(secrets) < 12 {
		t.Errorf("only %d secrets planted", len(secrets))
	}
}

func TestClassify_network(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	// slow never answers while the test runs. (Answering when the client
	// gives up races with the client's own cancellation.)
	release := make(chan struct{})
	slow := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	quick, err := HTTPClient(e.caFile, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	key, err := g.NewServiceAccount("tocsin", nil, testUser)
	if err != nil {
		t.Fatal(err)
	}
	slowKey := editJSON(t, key, map[string]any{"token_uri": slow.URL + "/token"})

	msFetch := func(authority string, hc *http.Client, ctx func() (context.Context, context.CancelFunc)) func(t *testing.T) error {
		return func(t *testing.T) error {
			f, err := MicrosoftApp{Authority: authority, Tenant: testTenant, ClientID: testApp, ClientSecret: testSecret,
				Scopes: []string{testserver.MicrosoftScopeSMTPApp}}.Fetcher(hc)
			if err != nil {
				t.Fatal(err)
			}
			c, cancel := ctx()
			defer cancel()
			_, err = f(c)
			return err
		}
	}
	background := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 200*time.Millisecond)
	}
	tests := []struct {
		name    string
		provoke func(t *testing.T) error
		remedy  string
	}{
		{"connection refused", msFetch(closed, e.hc, background), "cannot be reached"},
		{"client timeout", msFetch(slow.URL, quick, background), "did not answer in time"},
		{"context deadline", msFetch(slow.URL, e.hc, short), "did not answer in time"},
		{"untrusted certificate", msFetch(slow.URL, http.DefaultClient, background), "ca_file"},
		{"Google context deadline", func(t *testing.T) error {
			f, err := GoogleServiceAccount(slowKey, testUser, e.hc, scopeMail)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := short()
			defer cancel()
			_, err = f(ctx)
			return err
		}, "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.provoke(t)
			if err == nil {
				t.Fatal("no error")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v: the deadline was not honoured", d)
			}
			de := Classify(err)
			if de.Kind != sdk.Temporary || !strings.Contains(de.Remedy, tt.remedy) || de.Err != err {
				t.Errorf("Classify(%v) = %+v, want temporary with remedy containing %q", err, de, tt.remedy)
			}
			noSecrets(t, tt.name, []string{err.Error(), de.Error()}, testSecret)
		})
	}
}

func TestClassify_passThrough(t *testing.T) {
	if Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	de := sdk.PermanentError(errors.New("x"), "535 5.7.3", "fix it")
	if got := Classify(errors.Join(errors.New("wrapped"), de)); got != de {
		t.Errorf("an existing DeliveryError was not returned as is: %+v", got)
	}
	plain := errors.New("something odd")
	if got := Classify(plain); got.Kind != sdk.Temporary || got.Err != plain {
		t.Errorf("plain error: %+v", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"30", 30 * time.Second}, {"-5", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
