package graph_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// The app registration and mailbox the tests use.
const (
	tenant   = "contoso.example"
	clientID = "6f1c2e4a-3b7d-4e59-9a1f-0c2d8e7b5a61"
	secret   = "Zq8~graph-test-secret.Value_4kT9wV2xN7mR3pL6sH1j"
	mailbox  = "alerts@contoso.example"
)

// env is a Microsoft identity platform and a Graph stand-in that accepts
// the identity platform's Graph tokens, both over TLS from one CA.
type env struct {
	ca     *testserver.CA
	caFile string
	ms     *testserver.MicrosoftIdentity
	graph  *testserver.Graph

	mu       sync.Mutex
	roles    []string            // the roles Graph finds in a valid token
	reject   func(n int) bool    // when set and true for the n-th validation (from 0), Graph rejects the token
	n        int                 // validations so far
	rejected int                 // tokens Graph rejected
	tokens   map[string]struct{} // every token Graph saw
}

// envOptions adjusts the stand-ins.
type envOptions struct {
	// TokenLifetime of the identity platform's tokens; 0 is its default.
	TokenLifetime time.Duration
	// MaxRequestBytes of Graph; 0 is its default.
	MaxRequestBytes int64
	// Certificate registers this certificate (instead of the secret) for
	// the app.
	Certificate *x509.Certificate
}

func newCA(t *testing.T) (*testserver.CA, string) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, path
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{roles: []string{testserver.GraphRoleMailSend}, tokens: map[string]struct{}{}}
	e.ca, e.caFile = newCA(t)
	e.ms = testserver.StartMicrosoftIdentityT(t, e.ca, testserver.MicrosoftOptions{TokenLifetime: o.TokenLifetime})
	app := testserver.MicrosoftApp{
		Tenant:    tenant,
		ClientID:  clientID,
		Name:      "Tocsin alerts",
		Secret:    secret,
		AppScopes: []string{graph.Scope},
	}
	if o.Certificate != nil {
		app.Secret, app.Certificate = "", o.Certificate
	}
	if err := e.ms.AddApp(app); err != nil {
		t.Fatal(err)
	}
	e.graph = testserver.StartGraphT(t, e.ca, testserver.GraphOptions{Validate: e.validate, MaxRequestBytes: o.MaxRequestBytes})
	return e
}

// validate accepts an unexpired app-only Graph token of the app, as Graph
// does, and returns the env's roles.
func (e *env) validate(token string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = struct{}{}
	n := e.n
	e.n++
	c, err := e.ms.Validate(token)
	switch {
	case err != nil:
	case c.Scope != graph.Scope || c.ClientID != clientID || c.Tenant != tenant || c.User != "":
		err = errors.New("token is not an app-only Graph token of the app")
	case e.reject != nil && e.reject(n):
		err = errors.New("token revoked")
	}
	if err != nil {
		e.rejected++
		return nil, err
	}
	return slices.Clone(e.roles), nil
}

func (e *env) setRoles(roles ...string) {
	e.mu.Lock()
	e.roles = roles
	e.mu.Unlock()
}

func (e *env) setReject(f func(n int) bool) {
	e.mu.Lock()
	e.reject = f
	e.mu.Unlock()
}

func (e *env) rejections() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rejected
}

// seenTokens returns every access token Graph saw.
func (e *env) seenTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for tok := range e.tokens {
		out = append(out, tok)
	}
	return out
}

// tokenRequests is how many client-credentials requests the identity
// platform received.
func (e *env) tokenRequests() int { return e.ms.Requests(testserver.GrantClientCredentials) }

// settings returns settings pointing the transport at the env, with a
// client secret, changed by the pairs in extra (a nil value removes a
// setting).
func (e *env) settings(extra map[string]any) map[string]any {
	m := map[string]any{
		"tenant_id":      tenant,
		"client_id":      clientID,
		"client_secret":  secret,
		"authority":      e.ms.URL(),
		"graph_endpoint": e.graph.URL(),
		"ca_file":        e.caFile,
		"timeout":        "10s",
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func settingsOf(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure returns a transport configured with m and the diagnostics,
// failing the test on an error (not on diagnostics).
func configure(t *testing.T, m map[string]any) (*graph.Transport, sdk.Diagnostics) {
	t.Helper()
	tr := graph.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "m365", From: mailbox, Settings: settingsOf(t, m)})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return tr, diags
}

// mustConfigure is configure that also fails on any diagnostic.
func mustConfigure(t *testing.T, m map[string]any) *graph.Transport {
	t.Helper()
	tr, diags := configure(t, m)
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %+v", diags)
	}
	return tr
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: mailbox},
		To:      []sdk.Address{{Name: "On call", Address: "oncall@contoso.example"}},
		Subject: "disk full on db1",
		Text:    "The disk is full.\n",
	}
}

// sendOne sends m alone and returns its result's error, failing the test
// when Send itself fails or the result does not match.
func sendOne(t *testing.T, tr *graph.Transport, m *sdk.Message) error {
	t.Helper()
	results, err := tr.Send(t.Context(), []*sdk.Message{m})
	if err != nil {
		t.Fatalf("Send failed for the whole batch: %v", err)
	}
	if len(results) != 1 || results[0].MessageID != m.ID {
		t.Fatalf("results = %+v, want one for %s", results, m.ID)
	}
	if results[0].Err == nil && results[0].Receipt != graph.Receipt {
		t.Errorf("receipt = %q, want %q", results[0].Receipt, graph.Receipt)
	}
	return results[0].Err
}

// rsaCertificate makes an RSA key and a self-signed certificate for it, as
// an operator does for an app registration's certificate credential.
func rsaCertificate(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tocsin graph test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
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

// pemFile writes PEM blocks to a new file in dir and returns its path.
func pemFile(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func certBlock(c *x509.Certificate) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
}

func keyBlock(t *testing.T, k *rsa.PrivateKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// checkDeliveryError checks an error's kind, code and that its remedy
// mentions remedy.
func checkDeliveryError(t *testing.T, err error, kind sdk.Kind, code, remedy string) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error = %v, want a *sdk.DeliveryError", err)
	}
	if de.Kind != kind || de.Code != code {
		t.Errorf("error %v: kind %v, code %q; want %v, %q", err, de.Kind, de.Code, kind, code)
	}
	if !strings.Contains(de.Remedy, remedy) {
		t.Errorf("remedy %q does not mention %q", de.Remedy, remedy)
	}
	if de.Kind == sdk.Temporary && de.Remedy == "" {
		t.Errorf("error %v has no remedy", err)
	}
	return de
}

// graphRFC822 renders a message Graph accepted as the RFC 5322 message
// Exchange would deliver, for the conformance kit: the X-Tocsin-Message-ID
// header becomes the Message-ID, the body becomes the text or HTML part.
// It returns nil for a message it cannot render.
func graphRFC822(gm testserver.GraphMessage) []byte {
	msg := gm.Message
	m := sdk.Message{From: sdk.Address{Address: gm.User}, Subject: msg.Subject}
	for _, h := range msg.InternetMessageHeaders {
		if strings.EqualFold(h.Name, graph.MessageIDHeader) {
			m.ID = h.Value
		} else {
			m.Headers = append(m.Headers, sdk.Header{Name: h.Name, Value: h.Value})
		}
	}
	if strings.EqualFold(msg.Body.ContentType, "HTML") {
		m.HTML = msg.Body.Content
	} else {
		m.Text = msg.Body.Content
	}
	addrs := func(rs []testserver.GraphRecipient) []sdk.Address {
		var out []sdk.Address
		for _, r := range rs {
			out = append(out, sdk.Address{Name: r.EmailAddress.Name, Address: r.EmailAddress.Address})
		}
		return out
	}
	m.To, m.Cc, m.Bcc, m.ReplyTo = addrs(msg.ToRecipients), addrs(msg.CcRecipients), addrs(msg.BccRecipients), addrs(msg.ReplyTo)
	for _, a := range msg.Attachments {
		m.Attachments = append(m.Attachments, sdk.Attachment{Filename: a.Name, ContentType: a.ContentType, Data: a.ContentBytes})
	}
	raw, err := m.Bytes()
	if err != nil {
		return nil
	}
	return raw
}
