package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func googleTestClient(ca *CA) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.ClientPool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 10 * time.Second,
	}
}

type googleTestSA struct {
	Type         string `json:"type"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	TokenURI     string `json:"token_uri"`
	AuthURI      string `json:"auth_uri"`
}

// googleSignJWT builds the assertion as x/oauth2/jwt does.
func googleSignJWT(t *testing.T, sa googleTestSA, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("bad PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": sa.PrivateKeyID})
	cl, _ := json.Marshal(claims)
	ss := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(cl)
	sum := sha256.Sum256([]byte(ss))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return ss + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func googlePostForm(t *testing.T, c *http.Client, u string, form url.Values, basic [2]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestGoogleServiceAccountJSON(t *testing.T) {
	ca, _ := NewCA()
	g := StartGoogleOAuthT(t, ca, GoogleOAuthOptions{})
	js, err := g.NewServiceAccount("alerts", nil, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "project_id", "private_key_id", "private_key", "client_email", "client_id", "auth_uri", "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url", "universe_domain"} {
		if m[k] == "" {
			t.Errorf("missing %s", k)
		}
	}
	if m["type"] != "service_account" || m["token_uri"] != g.TokenURL() || m["client_email"] != "alerts@tocsin-test.iam.gserviceaccount.com" {
		t.Errorf("got %v", m)
	}
	ic, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var inst struct {
		Installed map[string]any `json:"installed"`
	}
	if err := json.Unmarshal(ic, &inst); err != nil || len(inst.Installed) != 7 || inst.Installed["token_uri"] != g.TokenURL() {
		t.Errorf("installed JSON %s: %v", ic, err)
	}
}

func TestGoogleJWTBearer(t *testing.T) {
	ca, _ := NewCA()
	g := StartGoogleOAuthT(t, ca, GoogleOAuthOptions{})
	c := googleTestClient(ca)
	js, err := g.NewServiceAccount("alerts", []string{GmailScopeSend}, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var sa googleTestSA
	if err := json.Unmarshal(js, &sa); err != nil {
		t.Fatal(err)
	}
	other, _ := g.NewServiceAccount("other", nil)
	var saOther googleTestSA
	_ = json.Unmarshal(other, &saOther)

	now := time.Now().Unix()
	base := func() map[string]any {
		return map[string]any{"iss": sa.ClientEmail, "scope": GmailScopeSend, "aud": sa.TokenURI,
			"exp": now + 3600, "iat": now - 10, "sub": "ops@example.com"}
	}
	with := func(k string, v any) map[string]any {
		m := base()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		claims  map[string]any
		signer  googleTestSA
		status  int
		errCode string
		subject string
	}{
		{"ok", base(), sa, 200, "", "ops@example.com"},
		{"no subject", with("sub", nil), sa, 200, "", ""},
		{"subject not delegated", with("sub", "ceo@example.com"), sa, 401, "unauthorized_client", ""},
		{"scope not granted", with("scope", GmailScopeFull), sa, 401, "unauthorized_client", ""},
		{"no scope", with("scope", nil), sa, 400, "invalid_scope", ""},
		{"wrong audience", with("aud", "https://example.com/token"), sa, 400, "invalid_grant", ""},
		{"expired", with("exp", now-5), sa, 400, "invalid_grant", ""},
		{"too long", with("exp", now+7200), sa, 400, "invalid_grant", ""},
		{"future iat", with("iat", now+600), sa, 400, "invalid_grant", ""},
		{"wrong key", base(), googleTestSA{PrivateKey: saOther.PrivateKey}, 400, "invalid_grant", ""},
		{"unknown issuer", with("iss", "nobody@x.iam.gserviceaccount.com"), sa, 400, "invalid_grant", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := googleSignJWT(t, tt.signer, tt.claims)
			status, out := googlePostForm(t, c, sa.TokenURI, url.Values{"grant_type": {GoogleGrantJWTBearer}, "assertion": {a}}, [2]string{})
			if status != tt.status || (tt.errCode != "" && out["error"] != tt.errCode) {
				t.Fatalf("status %d %v, want %d %s", status, out, tt.status, tt.errCode)
			}
			if tt.status != 200 {
				if tt.errCode == "unauthorized_client" && !strings.HasPrefix(out["error_description"].(string), "Client is unauthorized to retrieve access tokens") {
					t.Errorf("description %q", out["error_description"])
				}
				return
			}
			tok, _ := out["access_token"].(string)
			if len(tok) < 4096 || out["token_type"] != "Bearer" || out["expires_in"].(float64) != 3600 || out["scope"] != GmailScopeSend {
				t.Fatalf("response %v (token %d bytes)", out, len(tok))
			}
			claims, err := g.Validate(tok)
			if err != nil || claims.Subject != tt.subject || claims.ClientID != sa.ClientID || claims.Scopes[0] != GmailScopeSend {
				t.Errorf("Validate: %+v %v", claims, err)
			}
		})
	}
	if _, err := g.Validate("ya29.nope"); !errors.Is(err, ErrGoogleTokenUnknown) {
		t.Errorf("unknown token: %v", err)
	}
	if n := g.Counts(); n.JWTBearer != len(tests) || n.Token != len(tests) || n.Errors != len(tests)-2 {
		t.Errorf("counts %+v", n)
	}
}

func TestGoogleUnsupportedGrant(t *testing.T) {
	ca, _ := NewCA()
	g := StartGoogleOAuthT(t, ca, GoogleOAuthOptions{})
	status, out := googlePostForm(t, googleTestClient(ca), g.TokenURL(), url.Values{"grant_type": {"password"}}, [2]string{})
	if status != 400 || out["error"] != "unsupported_grant_type" {
		t.Errorf("%d %v", status, out)
	}
}

func TestGoogleAuthCodePKCEAndRefresh(t *testing.T) {
	ca, _ := NewCA()
	clock := time.Now()
	g := StartGoogleOAuthT(t, ca, GoogleOAuthOptions{TokenSize: 5000, TokenLifetime: time.Minute, ConsentUser: "me@example.com",
		Now: func() time.Time { return clock }})
	c := googleTestClient(ca)
	js, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var ic struct {
		Installed struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			AuthURI      string `json:"auth_uri"`
			TokenURI     string `json:"token_uri"`
		} `json:"installed"`
	}
	if err := json.Unmarshal(js, &ic); err != nil {
		t.Fatal(err)
	}
	id, secret := ic.Installed.ClientID, ic.Installed.ClientSecret
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://localhost:8765/cb"

	authorize := func(q url.Values) (*http.Response, url.Values) {
		t.Helper()
		resp, err := c.Get(ic.Installed.AuthURI + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil {
			return resp, nil
		}
		return resp, loc.Query()
	}
	good := url.Values{"client_id": {id}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {GmailScopeFull},
		"state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "access_type": {"offline"}}

	// Authorization endpoint errors.
	for name, mod := range map[string][2]string{
		"unknown client": {"client_id", "nope"},
		"bad redirect":   {"redirect_uri", "https://evil.example.com/cb"},
		"no scope":       {"scope", ""},
		"bad method":     {"code_challenge_method", "S512"},
	} {
		q := url.Values{}
		for k, v := range good {
			q[k] = v
		}
		q.Set(mod[0], mod[1])
		if resp, _ := authorize(q); resp.StatusCode != 400 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}

	code := func() string {
		resp, q := authorize(good)
		if resp.StatusCode != http.StatusFound || q.Get("state") != "xyz" || q.Get("code") == "" {
			t.Fatalf("authorize: %d %v", resp.StatusCode, q)
		}
		return q.Get("code")
	}
	exchange := func(code, verifier, redirectURI string, basic bool) (int, map[string]any) {
		form := url.Values{"grant_type": {GoogleGrantAuthCode}, "code": {code}, "redirect_uri": {redirectURI}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		if basic {
			return googlePostForm(t, c, ic.Installed.TokenURI, form, [2]string{id, secret})
		}
		form.Set("client_id", id)
		form.Set("client_secret", secret)
		return googlePostForm(t, c, ic.Installed.TokenURI, form, [2]string{})
	}
	tests := []struct {
		name     string
		code     string
		verifier string
		redirect string
		status   int
		errCode  string
	}{
		{"missing verifier", code(), "", redirect, 400, "invalid_grant"},
		{"wrong verifier", code(), "wrong-verifier-wrong-verifier-wrong-verifier", redirect, 400, "invalid_grant"},
		{"redirect mismatch", code(), verifier, "http://localhost:1/other", 400, "redirect_uri_mismatch"},
		{"unknown code", "4/0Anope", verifier, redirect, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		status, out := exchange(tt.code, tt.verifier, tt.redirect, false)
		if status != tt.status || out["error"] != tt.errCode {
			t.Errorf("%s: %d %v", tt.name, status, out)
		}
	}
	// Wrong client secret.
	if status, out := googlePostForm(t, c, ic.Installed.TokenURI, url.Values{"grant_type": {GoogleGrantAuthCode}, "code": {code()}, "redirect_uri": {redirect}, "code_verifier": {verifier}}, [2]string{id, "bad"}); status != 401 || out["error"] != "invalid_client" {
		t.Errorf("bad secret: %d %v", status, out)
	}

	cd := code()
	status, out := exchange(cd, verifier, redirect, true)
	if status != 200 || out["refresh_token"] == nil || len(out["access_token"].(string)) != 5000 || out["expires_in"].(float64) != 60 {
		t.Fatalf("exchange: %d %v", status, out)
	}
	if status, _ := exchange(cd, verifier, redirect, true); status != 400 {
		t.Errorf("code reused: %d", status)
	}
	cl, err := g.Validate(out["access_token"].(string))
	if err != nil || cl.Subject != "me@example.com" || cl.ClientID != id {
		t.Errorf("Validate %+v %v", cl, err)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := g.Validate(out["access_token"].(string)); !errors.Is(err, ErrGoogleTokenExpired) {
		t.Errorf("expired: %v", err)
	}

	// Refresh grant, with the token from the code grant and a seeded one.
	rt := out["refresh_token"].(string)
	seeded, err := g.NewRefreshToken(id, "ops@example.com", GmailScopeSend)
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {GoogleGrantRefreshToken}, "refresh_token": {rt}, "client_id": {id}, "client_secret": {secret}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return googlePostForm(t, c, ic.Installed.TokenURI, form, [2]string{})
	}
	if status, out := refresh(rt, ""); status != 200 || out["refresh_token"] != nil || out["scope"] != GmailScopeFull {
		t.Errorf("refresh: %d %v", status, out)
	}
	status, out = refresh(seeded, "")
	if status != 200 {
		t.Fatalf("refresh seeded: %d %v", status, out)
	}
	if cl, err := g.Validate(out["access_token"].(string)); err != nil || cl.Subject != "ops@example.com" {
		t.Errorf("seeded claims %+v %v", cl, err)
	}
	if status, out := refresh(seeded, GmailScopeFull); status != 400 || out["error"] != "invalid_scope" {
		t.Errorf("scope widening: %d %v", status, out)
	}
	g.RevokeRefreshToken(seeded)
	if status, out := refresh(seeded, ""); status != 400 || out["error_description"] != "Token has been expired or revoked." {
		t.Errorf("revoked: %d %v", status, out)
	}
	if n := g.Counts(); n.Authorize == 0 || n.AuthorizationCode == 0 || n.RefreshToken != 4 {
		t.Errorf("counts %+v", n)
	}
}
