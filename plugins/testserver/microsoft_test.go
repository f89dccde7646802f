package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// golang.org/x/oauth2 is not a dependency of the module, so these tests
// speak the wire protocol as x/oauth2 does (form POST, JSON reply, error
// fields error/error_description/error_codes).

const (
	msTenant = "contoso.example"
	msApp    = "11111111-2222-3333-4444-555555555555"
	msSecret = "s3cr3t~value"
	msUser   = "alerts@contoso.example"
)

type msClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *msClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *msClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func msNewClock() *msClock                 { return &msClock{now: time.Now()} }
func msCert(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tocsin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func msSignJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

type msReply struct {
	status int
	body   string
	fields map[string]any
}

func (r msReply) str(k string) string { s, _ := r.fields[k].(string); return s }

func (r msReply) aadsts() int {
	codes, _ := r.fields["error_codes"].([]any)
	if len(codes) != 1 {
		return 0
	}
	f, _ := codes[0].(float64)
	return int(f)
}

func msPost(t *testing.T, m *MicrosoftIdentity, u string, form url.Values, basic bool) msReply {
	t.Helper()
	form = msCloneValues(form)
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if basic {
		// As x/oauth2's AuthStyleInHeader.
		form.Del("client_id")
		form.Del("client_secret")
	}
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := m.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := msReply{status: resp.StatusCode, body: string(b)}
	if err := json.Unmarshal(b, &r.fields); err != nil {
		t.Fatalf("reply %d is not JSON: %q", r.status, r.body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	return r
}

func msCloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// msCheckErr checks a Microsoft error reply as x/oauth2 would surface it in
// a *oauth2.RetrieveError (ErrorCode, ErrorDescription, Body).
func msCheckErr(t *testing.T, r msReply, status int, code string, aadsts int) {
	t.Helper()
	if r.status != status || r.str("error") != code || r.aadsts() != aadsts {
		t.Fatalf("got %d %q %v, want %d %q [%d]; body %s", r.status, r.str("error"), r.fields["error_codes"], status, code, aadsts, r.body)
	}
	if want := "AADSTS" + msItoa(aadsts) + ": "; !strings.HasPrefix(r.str("error_description"), want) || !strings.Contains(r.body, want) {
		t.Errorf("description %q does not start with %q", r.str("error_description"), want)
	}
	for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
		if r.str(k) == "" {
			t.Errorf("no %s", k)
		}
	}
	if _, ok := r.fields["access_token"]; ok {
		t.Error("error reply has an access token")
	}
}

func msItoa(n int) string { return big.NewInt(int64(n)).String() }

func msCheckToken(t *testing.T, m *MicrosoftIdentity, r msReply, want MicrosoftClaims, refresh bool) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if r.str("token_type") != "Bearer" || r.fields["expires_in"] != float64(3600) || r.fields["ext_expires_in"] != float64(3600) {
		t.Errorf("reply %v", r.fields)
	}
	tok := r.str("access_token")
	if len(tok) != DefaultMicrosoftTokenBytes {
		t.Errorf("token length %d", len(tok))
	}
	c, err := m.Validate(tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Expiry = time.Time{}
	if c != want {
		t.Errorf("claims %+v, want %+v", c, want)
	}
	if got := r.str("refresh_token") != ""; got != refresh {
		t.Errorf("refresh token present %v, want %v", got, refresh)
	}
}

func startMS(t *testing.T, clk *msClock, apps ...MicrosoftApp) *MicrosoftIdentity {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	m := StartMicrosoftIdentityT(t, ca, MicrosoftOptions{Now: clk.Now})
	for _, a := range apps {
		if err := m.AddApp(a); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestMicrosoftClientCredentials(t *testing.T) {
	cert, key := msCert(t)
	_, otherKey := msCert(t)
	clk := msNewClock()
	base := MicrosoftApp{Tenant: msTenant, ClientID: msApp, Name: "tocsin", Secret: msSecret, Certificate: cert, AppScopes: []string{MicrosoftScopeSMTPApp}}
	expired, noConsent := base, base
	expired.ClientID, expired.SecretExpired = "expired-app", true
	noConsent.ClientID, noConsent.ConsentMissing = "noconsent-app", true
	m := startMS(t, clk, base, expired, noConsent)
	tokenURL := m.TokenURL(msTenant)
	assertion := func(k *rsa.PrivateKey, aud string, exp time.Duration) url.Values {
		return url.Values{
			"grant_type": {GrantClientCredentials}, "client_id": {msApp}, "scope": {MicrosoftScopeSMTPApp},
			"client_assertion_type": {ClientAssertionTypeJWT},
			"client_assertion": {msSignJWT(t, k, map[string]any{"aud": aud, "iss": msApp, "sub": msApp,
				"jti": msNewGUID(), "nbf": clk.Now().Unix(), "exp": clk.Now().Add(exp).Unix()})},
		}
	}
	secret := func(tenantClientSecretScope ...string) (string, url.Values) {
		return m.TokenURL(tenantClientSecretScope[0]), url.Values{"grant_type": {GrantClientCredentials},
			"client_id": {tenantClientSecretScope[1]}, "client_secret": {tenantClientSecretScope[2]}, "scope": {tenantClientSecretScope[3]}}
	}
	type tc struct {
		name   string
		url    string
		form   url.Values
		basic  bool
		status int
		code   string
		aadsts int
	}
	var cases []tc
	add := func(name string, u string, f url.Values, basic bool, status int, code string, aadsts int) {
		cases = append(cases, tc{name, u, f, basic, status, code, aadsts})
	}
	u, f := secret(msTenant, msApp, msSecret, MicrosoftScopeSMTPApp)
	add("secret in form", u, f, false, 200, "", 0)
	u, f = secret(msTenant, msApp, msSecret, MicrosoftScopeSMTPApp)
	add("secret in basic auth", u, f, true, 200, "", 0)
	add("certificate", tokenURL, assertion(key, tokenURL, 10*time.Minute), false, 200, "", 0)
	add("assertion other key", tokenURL, assertion(otherKey, tokenURL, 10*time.Minute), false, 401, "invalid_client", 700027)
	add("assertion expired", tokenURL, assertion(key, tokenURL, -time.Minute), false, 401, "invalid_client", 700024)
	add("assertion wrong aud", tokenURL, assertion(key, "https://login.microsoftonline.com/x/oauth2/v2.0/token", time.Minute), false, 401, "invalid_client", 700212)
	u, f = secret("nosuch.example", msApp, msSecret, MicrosoftScopeSMTPApp)
	add("unknown tenant", u, f, false, 400, "invalid_request", 90002)
	u, f = secret(msTenant, "nosuch-app", msSecret, MicrosoftScopeSMTPApp)
	add("unknown client", u, f, false, 400, "unauthorized_client", 700016)
	u, f = secret(msTenant, msApp, "secret-id-not-value", MicrosoftScopeSMTPApp)
	add("wrong secret", u, f, false, 401, "invalid_client", 7000215)
	u, f = secret(msTenant, "expired-app", msSecret, MicrosoftScopeSMTPApp)
	add("expired secret", u, f, false, 401, "invalid_client", 7000222)
	u, f = secret(msTenant, "noconsent-app", msSecret, MicrosoftScopeSMTPApp)
	add("consent missing", u, f, false, 400, "invalid_grant", 65001)
	u, f = secret(msTenant, msApp, msSecret, "https://graph.microsoft.com/.default")
	add("wrong scope", u, f, false, 400, "invalid_scope", 70011)
	u, f = secret(msTenant, msApp, msSecret, MicrosoftScopeSMTPSend)
	add("delegated scope", u, f, false, 400, "invalid_scope", 1002012)
	u, f = secret(msTenant, msApp, "", MicrosoftScopeSMTPApp)
	add("no credentials", u, f, false, 401, "invalid_client", 7000218)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := msPost(t, m, c.url, c.form, c.basic)
			if c.status == 200 {
				msCheckToken(t, m, r, MicrosoftClaims{Tenant: msTenant, ClientID: msApp, Scope: MicrosoftScopeSMTPApp}, false)
				if _, ok := r.fields["scope"]; ok {
					t.Error("client credentials reply has a scope")
				}
				return
			}
			msCheckErr(t, r, c.status, c.code, c.aadsts)
		})
	}
	if n := m.Requests(GrantClientCredentials); n != len(cases) {
		t.Errorf("Requests = %d, want %d", n, len(cases))
	}
}

func msDelegatedApp() MicrosoftApp {
	return MicrosoftApp{Tenant: msTenant, ClientID: msApp, Name: "tocsin", Public: true, User: msUser,
		DelegatedScopes: []string{MicrosoftScopeSMTPSend}, RedirectURIs: []string{"http://localhost/callback"}}
}

const msDelegatedScope = MicrosoftScopeSMTPSend + " offline_access"

// authorize runs the auto-consenting authorize step and returns the code.
func msAuthorize(t *testing.T, m *MicrosoftIdentity, q url.Values) url.Values {
	t.Helper()
	resp, err := m.Client().Get(m.AuthURL(msTenant) + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Host != "localhost:8400" || loc.Path != "/callback" {
		t.Errorf("redirected to %v", loc)
	}
	return loc.Query()
}

func TestMicrosoftAuthorizationCodePKCE(t *testing.T) {
	clk := msNewClock()
	m := startMS(t, clk, msDelegatedApp())
	verifier := RandomToken(64)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {msApp}, "response_type": {"code"}, "redirect_uri": {"http://localhost:8400/callback"},
		"scope": {msDelegatedScope}, "state": {"st4te"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	redeem := func(code, v string) msReply {
		return msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {msApp},
			"code": {code}, "redirect_uri": {"http://localhost:8400/callback"}, "code_verifier": {v}}, false)
	}
	want := MicrosoftClaims{Tenant: msTenant, ClientID: msApp, Scope: msDelegatedScope, User: msUser}

	back := msAuthorize(t, m, q)
	if back.Get("state") != "st4te" || back.Get("code") == "" {
		t.Fatalf("redirect query %v", back)
	}
	msCheckErr(t, redeem(back.Get("code"), RandomToken(64)), 400, "invalid_grant", 501481)

	code := msAuthorize(t, m, q).Get("code")
	r := redeem(code, verifier)
	msCheckToken(t, m, r, want, true)
	if r.str("scope") != msDelegatedScope {
		t.Errorf("scope %q", r.str("scope"))
	}
	msCheckErr(t, redeem(code, verifier), 400, "invalid_grant", 70000) // used once

	// Refresh tokens rotate: the new one works, the old one no longer.
	rt1 := r.str("refresh_token")
	refresh := func(rt string) msReply {
		return msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {GrantRefreshToken}, "client_id": {msApp},
			"refresh_token": {rt}, "scope": {msDelegatedScope}}, false)
	}
	r2 := refresh(rt1)
	msCheckToken(t, m, r2, want, true)
	rt2 := r2.str("refresh_token")
	if rt2 == rt1 {
		t.Error("refresh token not rotated")
	}
	msCheckErr(t, refresh(rt1), 400, "invalid_grant", 70000)
	msCheckToken(t, m, refresh(rt2), want, true)
	if n := m.Requests(GrantRefreshToken); n != 3 {
		t.Errorf("refresh requests %d", n)
	}
	if n := m.Requests(GrantAuthorizationCode); n != 3 {
		t.Errorf("code requests %d", n)
	}

	// Without offline_access: no refresh token.
	q.Set("scope", MicrosoftScopeSMTPSend)
	code = msAuthorize(t, m, q).Get("code")
	msCheckToken(t, m, redeem(code, verifier), MicrosoftClaims{Tenant: msTenant, ClientID: msApp, Scope: MicrosoftScopeSMTPSend, User: msUser}, false)

	// A scope the app does not have is refused in the redirect.
	q.Set("scope", "https://graph.microsoft.com/Mail.Send")
	if back := msAuthorize(t, m, q); back.Get("error") != "invalid_scope" || !strings.HasPrefix(back.Get("error_description"), "AADSTS70011:") || back.Get("code") != "" {
		t.Errorf("bad scope redirect %v", back)
	}
}

func TestMicrosoftAuthorizeErrors(t *testing.T) {
	m := startMS(t, msNewClock(), msDelegatedApp())
	for _, tc := range []struct {
		name, tenant, client, redirect string
		aadsts                         int
	}{
		{"unknown tenant", "nosuch", msApp, "http://localhost/callback", 90002},
		{"unknown client", msTenant, "nosuch", "http://localhost/callback", 700016},
		{"unregistered redirect", msTenant, msApp, "https://evil.example/cb", 50011},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {tc.client}, "response_type": {"code"}, "redirect_uri": {tc.redirect}, "scope": {msDelegatedScope}}
			resp, err := m.Client().Get(m.AuthURL(tc.tenant) + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			codes, _ := body["error_codes"].([]any)
			if resp.StatusCode != 400 || len(codes) != 1 || codes[0] != float64(tc.aadsts) {
				t.Errorf("got %d %v", resp.StatusCode, body)
			}
		})
	}
}

func TestMicrosoftDeviceCode(t *testing.T) {
	clk := msNewClock()
	blocked := msDelegatedApp()
	blocked.ClientID, blocked.SecurityDefaults = "blocked-app", true
	m := startMS(t, clk, msDelegatedApp(), blocked)
	start := func(client string) msReply {
		return msPost(t, m, m.DeviceAuthURL(msTenant), url.Values{"client_id": {client}, "scope": {msDelegatedScope}}, false)
	}
	poll := func(client, dc string) msReply {
		return msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {GrantDeviceCode}, "client_id": {client}, "device_code": {dc}}, false)
	}
	d := start(msApp)
	if d.status != 200 || d.str("device_code") == "" || len(d.str("user_code")) != 9 || d.str("verification_uri") == "" ||
		d.fields["expires_in"] != float64(900) || d.fields["interval"] != float64(1) {
		t.Fatalf("device code reply %d %v", d.status, d.fields)
	}
	msCheckErr(t, poll(msApp, d.str("device_code")), 400, "authorization_pending", 70016)
	msCheckErr(t, poll(msApp, d.str("device_code")), 400, "authorization_pending", 70016)
	if err := m.Approve("NOSUCHCOD"); err == nil {
		t.Error("Approve of unknown code succeeded")
	}
	if err := m.Approve(d.str("user_code")); err != nil {
		t.Fatal(err)
	}
	msCheckToken(t, m, poll(msApp, d.str("device_code")), MicrosoftClaims{Tenant: msTenant, ClientID: msApp, Scope: msDelegatedScope, User: msUser}, true)
	msCheckErr(t, poll(msApp, d.str("device_code")), 400, "invalid_grant", 70000)
	if n := m.Requests(GrantDeviceCode); n != 4 {
		t.Errorf("device requests %d", n)
	}

	// Expiry.
	d = start(msApp)
	clk.Advance(16 * time.Minute)
	msCheckErr(t, poll(msApp, d.str("device_code")), 400, "expired_token", 70020)
	if err := m.Approve(d.str("user_code")); err == nil {
		t.Error("Approve of expired code succeeded")
	}

	// Security defaults block the sign-in.
	d = start("blocked-app")
	if err := m.Approve(d.str("user_code")); err != nil {
		t.Fatal(err)
	}
	msCheckErr(t, poll("blocked-app", d.str("device_code")), 400, "invalid_grant", 530035)

	// Scope check at the device code endpoint.
	r := msPost(t, m, m.DeviceAuthURL(msTenant), url.Values{"client_id": {msApp}, "scope": {"https://graph.microsoft.com/Mail.Send"}}, false)
	msCheckErr(t, r, 400, "invalid_scope", 70011)
}

func TestMicrosoftValidateExpiry(t *testing.T) {
	clk := msNewClock()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	m := StartMicrosoftIdentityT(t, ca, MicrosoftOptions{Now: clk.Now, TokenBytes: 8000, TokenLifetime: 10 * time.Minute})
	if err := m.AddApp(MicrosoftApp{Tenant: msTenant, ClientID: msApp, Secret: msSecret, AppScopes: []string{MicrosoftScopeSMTPApp}}); err != nil {
		t.Fatal(err)
	}
	r := msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {GrantClientCredentials}, "client_id": {msApp},
		"client_secret": {msSecret}, "scope": {MicrosoftScopeSMTPApp}}, false)
	tok := r.str("access_token")
	if len(tok) != 8000 || r.fields["expires_in"] != float64(600) {
		t.Fatalf("token length %d, reply %v", len(tok), r.fields["expires_in"])
	}
	c, err := m.Validate(tok)
	if err != nil || !c.Expiry.Equal(clk.Now().Add(10*time.Minute)) {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := m.Validate(tok + "x"); err == nil {
		t.Error("unknown token validated")
	}
	clk.Advance(10 * time.Minute)
	if _, err := m.Validate(tok); err == nil {
		t.Error("expired token validated")
	}
	msCheckErr(t, msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {"password"}, "client_id": {msApp}}, false), 400, "unsupported_grant_type", 70003)
}

// TestMicrosoftXOAUTH2 ties the two stand-ins together: a token from the
// identity server authenticates SMTP through XOAUTH2.
func TestMicrosoftXOAUTH2(t *testing.T) {
	m := startMS(t, msNewClock(), MicrosoftApp{Tenant: msTenant, ClientID: msApp, Secret: msSecret, AppScopes: []string{MicrosoftScopeSMTPApp}})
	validate := func(user, token string) error {
		c, err := m.Validate(token)
		if err != nil {
			return err
		}
		if c.Scope != MicrosoftScopeSMTPApp {
			return errors.New("wrong scope")
		}
		return nil
	}
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := StartT(t, Options{TLS: tlsConfig, Mechanisms: map[string]func(*AuthConn) sasl.Server{MechXOAUTH2: XOAUTH2(validate, StyleMicrosoft)}})
	r := msPost(t, m, m.TokenURL(msTenant), url.Values{"grant_type": {GrantClientCredentials}, "client_id": {msApp},
		"client_secret": {msSecret}, "scope": {MicrosoftScopeSMTPApp}}, false)
	if err := xoauth2SendGoMail(srv, ca, msUser, r.str("access_token")); err != nil {
		t.Fatal(err)
	}
	if got := waitN(t, srv, 1)[0].User; got != msUser {
		t.Errorf("user %q", got)
	}
}
