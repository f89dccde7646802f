package msoauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// The tenant, apps and mailboxes of the tests.
const (
	tenant       = "contoso.example"
	appID        = "0a1b2c3d-1111-4222-8333-944445555666"
	appSecret    = "Qx8Q~appSecretValue.9f4b2e7d1c6a0b3e5f8a"
	delegatedID  = "7e8f9a0b-2222-4333-8444-955556666777"
	delegatedSec = "Zy7R~delegatedSecretValue.2c4e6a8b0d1f3a5c"
	mailbox      = "alerts@contoso.example"
	otherMailbox = "ceo@contoso.example"
	redirectURI  = "http://127.0.0.1/callback"
)

// env is one Microsoft 365 in miniature: an identity platform and an SMTP
// server that accepts a token only for a mailbox its holder may use.
type env struct {
	ca     *testserver.CA
	caFile string
	ms     *testserver.MicrosoftIdentity
	smtp   *testserver.Server

	mu sync.Mutex
	// fullAccess lists the mailboxes each app's service principal has
	// FullAccess on (Add-MailboxPermission).
	fullAccess map[string][]string
	// reply, when set, is what the SMTP server answers every AUTH with.
	reply error
	// seen holds the tokens the SMTP server was shown; revoked those it
	// rejects whatever the identity platform says.
	seen, revoked map[string]bool
}

// apps returns the registrations of the tests: an app-only app with a
// secret, and a confidential app for delegated logins as mailbox.
func apps() []testserver.MicrosoftApp {
	return []testserver.MicrosoftApp{
		{Tenant: tenant, ClientID: appID, Name: "Tocsin alerts", Secret: appSecret, AppScopes: []string{msoauth.ScopeApp}},
		{
			Tenant: tenant, ClientID: delegatedID, Name: "Tocsin delegated", Secret: delegatedSec, User: mailbox,
			DelegatedScopes: []string{msoauth.ScopeSMTPSend}, RedirectURIs: []string{redirectURI},
		},
	}
}

// newEnv starts the identity stand-in with opts and apps (apps() when
// none) and an SMTP server in Microsoft's style. appID has FullAccess on
// mailbox.
func newEnv(t *testing.T, opts testserver.MicrosoftOptions, registered ...testserver.MicrosoftApp) *env {
	t.Helper()
	ca, caFile := xoauth2test.NewCA(t)
	e := &env{ca: ca, caFile: caFile, fullAccess: map[string][]string{appID: {mailbox}}, seen: map[string]bool{}, revoked: map[string]bool{}}
	e.ms = testserver.StartMicrosoftIdentityT(t, ca, opts)
	if len(registered) == 0 {
		registered = apps()
	}
	for _, a := range registered {
		if err := e.ms.AddApp(a); err != nil {
			t.Fatal(err)
		}
	}
	e.smtp = xoauth2test.StartSMTP(t, ca, false, testserver.StyleMicrosoft, e.validate)
	return e
}

// validate is Exchange Online's check of an XOAUTH2 login: a valid token
// of the tenant with the SMTP scope, and, for an app-only token, FullAccess
// of the app on the mailbox, for a delegated one, the signed-in user's own
// mailbox.
func (e *env) validate(user, token string) error {
	e.mu.Lock()
	reply, access, revoked := e.reply, e.fullAccess, e.revoked[token]
	e.seen[token] = true
	e.mu.Unlock()
	if reply != nil {
		return reply
	}
	if revoked {
		return errors.New("token revoked")
	}
	c, err := e.ms.Validate(token)
	if err != nil {
		return err
	}
	if c.Tenant != tenant {
		return errors.New("token of another tenant")
	}
	if c.User == "" {
		if c.Scope != msoauth.ScopeApp || !slices.Contains(access[c.ClientID], user) {
			return errors.New("no FullAccess on the mailbox")
		}
		return nil
	}
	if !slices.Contains(strings.Fields(c.Scope), msoauth.ScopeSMTPSend) || !strings.EqualFold(c.User, user) {
		return errors.New("not the signed-in user's mailbox")
	}
	return nil
}

// tokens returns the access tokens the SMTP server was shown.
func (e *env) tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.seen))
}

// revokeSeen makes the SMTP server reject every token it has seen, as
// after an admin revoked the app's sessions.
func (e *env) revokeSeen() {
	e.mu.Lock()
	for tok := range e.seen {
		e.revoked[tok] = true
	}
	e.mu.Unlock()
}

func (e *env) setReply(err error) {
	e.mu.Lock()
	e.reply = err
	e.mu.Unlock()
}

// appSettings configures app-only mode with a secret against e.
func (e *env) appSettings() map[string]any {
	return map[string]any{
		"host":          e.smtp.Host(),
		"port":          e.smtp.Port(),
		"ca_file":       e.caFile,
		"authority":     e.ms.URL(),
		"tenant_id":     tenant,
		"client_id":     appID,
		"client_secret": appSecret,
		"timeout":       "20s",
	}
}

// delegatedSettings configures delegated mode against e.
func (e *env) delegatedSettings() map[string]any {
	m := e.appSettings()
	m["mode"] = msoauth.ModeDelegated
	m["client_id"] = delegatedID
	m["client_secret"] = delegatedSec
	return m
}

// login runs the authorization-code flow with PKCE against the
// auto-consenting stand-in, as `tocsin oauth login` does for the
// delegated app, and returns the refresh token.
func (e *env) login(t *testing.T) string {
	t.Helper()
	cfg := &oauth2.Config{
		ClientID:     delegatedID,
		ClientSecret: delegatedSec,
		Endpoint:     oauth.MicrosoftEndpoint(e.ms.URL(), tenant),
		RedirectURL:  "http://127.0.0.1:53682/callback",
		Scopes:       msoauth.DelegatedScopes,
	}
	verifier := oauth2.GenerateVerifier()
	hc := e.ms.Client()
	resp, err := hc.Get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", mailbox)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(context.WithValue(t.Context(), oauth2.HTTPClient, hc), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token from the code grant")
	}
	return tok.RefreshToken
}

// refreshWorks reports whether the stand-in still accepts refresh token rt.
func (e *env) refreshWorks(t *testing.T, rt string) bool {
	t.Helper()
	cfg := &oauth2.Config{ClientID: delegatedID, ClientSecret: delegatedSec, Endpoint: oauth.MicrosoftEndpoint(e.ms.URL(), tenant), Scopes: msoauth.DelegatedScopes}
	_, err := cfg.TokenSource(context.WithValue(t.Context(), oauth2.HTTPClient, e.ms.Client()), &oauth2.Token{RefreshToken: rt}).Token()
	return err == nil
}

// saved collects the credentials a transport hands to SaveCredential.
type saved struct {
	mu  sync.Mutex
	got []string
}

func (s *saved) save(v string) { s.mu.Lock(); s.got = append(s.got, v); s.mu.Unlock() }

func (s *saved) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func settings(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure configures a new in-process transport as transport "o365"
// with from mailbox, and fails the test on an error or error diagnostics.
func configure(t *testing.T, m map[string]any, credential string, save func(string)) *msoauth.Transport {
	t.Helper()
	tr := msoauth.New("test")
	if save == nil {
		save = func(string) {}
	}
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "o365", From: mailbox, Settings: settings(t, m), Credential: credential, SaveCredential: save})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure: %v %+v", err, diags)
	}
	return tr
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: mailbox},
		To:      []sdk.Address{{Address: "ops@example.net"}},
		Subject: "disk full",
		Text:    "The disk is full.\n",
	}
}

// certificate makes a self-signed RSA certificate and writes it and its
// key as PEM files, returning the certificate and the two paths.
func certificate(t *testing.T) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tocsin alerts"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tocsin.crt"), filepath.Join(dir, "tocsin.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

// deliveryError returns err as a *sdk.DeliveryError, failing the test if
// it is not one.
func deliveryError(t *testing.T, err error) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *sdk.DeliveryError", err, err)
	}
	return de
}

// waitLoggedOut waits until srv has no connection open, so that the next
// send logs in anew (with idle_timeout tiny, the pool keeps nothing).
func waitLoggedOut(t *testing.T, srv *testserver.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SMTP connections still open", srv.Open())
		}
		time.Sleep(time.Millisecond)
	}
}
