package oauth

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestMicrosoftEndpoint(t *testing.T) {
	tests := []struct {
		authority, tenant, wantBase string
	}{
		{"", "contoso.onmicrosoft.com", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"},
		{"https://login.microsoftonline.us/", "9188040d-6c67-4c5b-b112-36a304b66dad", "https://login.microsoftonline.us/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/"},
		{"https://127.0.0.1:8443", "organizations", "https://127.0.0.1:8443/organizations/oauth2/v2.0/"},
	}
	for _, tt := range tests {
		ep := MicrosoftEndpoint(tt.authority, tt.tenant)
		if ep.AuthURL != tt.wantBase+"authorize" || ep.TokenURL != tt.wantBase+"token" || ep.DeviceAuthURL != tt.wantBase+"devicecode" || ep.AuthStyle != 1 {
			t.Errorf("MicrosoftEndpoint(%q, %q) = %+v", tt.authority, tt.tenant, ep)
		}
	}
	m := testserver.StartMicrosoftIdentityT(t, newEnv(t).ca, testserver.MicrosoftOptions{})
	if ep := MicrosoftEndpoint(m.URL()+"/", testTenant); ep.TokenURL != m.TokenURL(testTenant) || ep.AuthURL != m.AuthURL(testTenant) || ep.DeviceAuthURL != m.DeviceAuthURL(testTenant) {
		t.Errorf("endpoints %+v differ from the stand-in's", ep)
	}
}

func TestMicrosoftApp_Fetcher_secret(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{}, appApp())
	fetch, err := secretApp(m).Fetcher(e.hc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := m.Validate(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.ClientID != testApp || claims.Scope != testserver.MicrosoftScopeSMTPApp {
		t.Errorf("claims %+v", claims)
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expiry in %v, want the stand-in's hour", d)
	}
	if n := m.Requests(testserver.GrantClientCredentials); n != 1 {
		t.Errorf("%d requests, want 1 (the secret goes in the form, no auth style probing)", n)
	}
}

func TestMicrosoftApp_Fetcher_certificate(t *testing.T) {
	e := newEnv(t)
	cf := newCertFiles(t)
	app := appApp()
	app.Secret = ""
	app.Certificate = cf.cert
	m := e.microsoft(t, testserver.MicrosoftOptions{}, app)
	tests := []struct {
		name              string
		certFile, keyFile string
	}{
		{"PKCS #8 key file", cf.certFile, cf.keyFile},
		{"PKCS #1 key file", cf.certFile, cf.pkcs1File},
		{"key in the certificate file", cf.bundleFile, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := MicrosoftApp{Authority: m.URL(), Tenant: testTenant, ClientID: testApp,
				CertificateFile: tt.certFile, KeyFile: tt.keyFile, Scopes: []string{testserver.MicrosoftScopeSMTPApp}}
			fetch, err := a.Fetcher(e.hc)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // each fetch signs a fresh assertion
				tok, err := fetch(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if c, err := m.Validate(tok.AccessToken); err != nil || c.ClientID != testApp {
					t.Fatalf("Validate: %+v, %v", c, err)
				}
			}
		})
	}
}

func TestClientAssertion(t *testing.T) {
	cf := newCertFiles(t)
	now := time.Unix(1_800_000_000, 0)
	aud := "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
	a1, err := clientAssertion(cf.cert, cf.key, testApp, aud, now)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := clientAssertion(cf.cert, cf.key, testApp, aud, now)
	parts := strings.Split(a1, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	var header map[string]string
	var claims map[string]any
	decode := func(s string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	decode(parts[0], &header)
	decode(parts[1], &claims)
	sum := sha1.Sum(cf.cert.Raw)
	if header["alg"] != "RS256" || header["typ"] != "JWT" || header["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("header %v", header)
	}
	n := float64(now.Unix())
	if claims["aud"] != aud || claims["iss"] != testApp || claims["sub"] != testApp ||
		claims["nbf"] != n || claims["iat"] != n || claims["exp"] != n+600 {
		t.Errorf("claims %v", claims)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 32 || strings.Contains(a2, jti) {
		t.Errorf("jti %q not random", jti)
	}
}

func TestMicrosoftApp_Fetcher_validation(t *testing.T) {
	e := newEnv(t)
	cf := newCertFiles(t)
	other := newCertFiles(t)
	dir := t.TempDir()
	encrypted := writeFile(t, dir, "enc.pem", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	garbage := writeFile(t, dir, "garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	ec := ecKeyFile(t)
	expired := makeCertFiles(t, time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC))
	base := MicrosoftApp{Authority: "https://127.0.0.1:1", Tenant: testTenant, ClientID: testApp, Scopes: []string{testserver.MicrosoftScopeSMTPApp}}
	tests := []struct {
		name    string
		mutate  func(*MicrosoftApp)
		wantErr []string
	}{
		{"no credential", func(a *MicrosoftApp) {}, []string{"client_secret or client_certificate"}},
		{"both", func(a *MicrosoftApp) {
			a.ClientSecret = testSecret
			a.CertificateFile = cf.certFile
			a.KeyFile = cf.keyFile
		}, []string{"not both"}},
		{"secret and key", func(a *MicrosoftApp) { a.ClientSecret = testSecret; a.KeyFile = cf.keyFile }, []string{"not both"}},
		{"key without certificate", func(a *MicrosoftApp) { a.KeyFile = cf.keyFile }, []string{"client_key is set but client_certificate is not"}},
		{"no tenant or client", func(a *MicrosoftApp) { a.Tenant, a.ClientID, a.ClientSecret = "", "", testSecret }, []string{"tenant_id, client_id not set"}},
		{"authority without scheme", func(a *MicrosoftApp) { a.Authority, a.ClientSecret = "login.microsoftonline.us", testSecret }, []string{`authority "login.microsoftonline.us" is not an https:// URL`}},
		{"no scope", func(a *MicrosoftApp) { a.Scopes, a.ClientSecret = nil, testSecret }, []string{"scope not set"}},
		{"certificate file missing", func(a *MicrosoftApp) { a.CertificateFile = filepath.Join(dir, "nope.pem") }, []string{"client_certificate", "nope.pem", "no such file"}},
		{"key file missing", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, filepath.Join(dir, "nokey.pem") }, []string{"client_key", "nokey.pem", "no such file"}},
		{"no certificate in file", func(a *MicrosoftApp) { a.CertificateFile = cf.keyFile }, []string{cf.keyFile, "no PEM certificate"}},
		{"broken certificate", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = garbage, cf.keyFile }, []string{garbage, "x509"}},
		{"no key anywhere", func(a *MicrosoftApp) { a.CertificateFile = cf.certFile }, []string{cf.certFile, "no private key", "client_key"}},
		{"key file without key", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, cf.certFile }, []string{"no PEM private key"}},
		{"mismatched key", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, other.keyFile }, []string{other.keyFile, "does not belong to the certificate", cf.certFile}},
		{"mismatched key in bundle", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, other.bundleFile }, []string{"does not belong"}},
		{"encrypted key", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, encrypted }, []string{encrypted, "encrypted"}},
		{"expired certificate", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = expired.certFile, expired.keyFile }, []string{expired.certFile, "expired on 2025-06-30", "upload it"}},
		{"EC key", func(a *MicrosoftApp) { a.CertificateFile, a.KeyFile = cf.certFile, ec }, []string{ec, "RSA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.mutate(&a)
			f, err := a.Fetcher(e.hc)
			if err == nil || f != nil {
				t.Fatalf("Fetcher = %v, %v; want an error", f != nil, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			noSecrets(t, tt.name, []string{err.Error()}, testSecret, cf.keyPEM, other.keyPEM, expired.keyPEM)
		})
	}
}
