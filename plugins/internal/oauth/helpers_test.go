package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const (
	testTenant = "contoso.example"
	testApp    = "11111111-2222-3333-4444-555555555555"
	testSecret = "Qx8Q~s3cr3t.VALUE-do-not-leak_0123456789ab"
	testUser   = "alerts@contoso.example"
	delegated  = testserver.MicrosoftScopeSMTPSend + " offline_access"
)

// clock is a settable clock for the Cache and the stand-ins.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a CA, its ca_file and a client from HTTPClient trusting it.
type env struct {
	ca     *testserver.CA
	caFile string
	hc     *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := HTTPClient(caFile, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ca: ca, caFile: caFile, hc: hc}
}

// microsoft starts a Microsoft stand-in with app registered.
func (e *env) microsoft(t *testing.T, opts testserver.MicrosoftOptions, apps ...testserver.MicrosoftApp) *testserver.MicrosoftIdentity {
	t.Helper()
	m := testserver.StartMicrosoftIdentityT(t, e.ca, opts)
	for _, a := range apps {
		if err := m.AddApp(a); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// serve starts an HTTPS server with a certificate from the CA.
func (e *env) serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	tc, err := e.ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = tc
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// appApp is a confidential app for client credentials with a secret.
func appApp() testserver.MicrosoftApp {
	return testserver.MicrosoftApp{
		Tenant: testTenant, ClientID: testApp, Name: "Tocsin", Secret: testSecret,
		AppScopes: []string{testserver.MicrosoftScopeSMTPApp},
	}
}

// secretApp is the MicrosoftApp settings matching appApp on m.
func secretApp(m *testserver.MicrosoftIdentity) MicrosoftApp {
	return MicrosoftApp{
		Authority: m.URL(), Tenant: testTenant, ClientID: testApp, ClientSecret: testSecret,
		Scopes: []string{testserver.MicrosoftScopeSMTPApp},
	}
}

// certFiles is a certificate with its RSA key, written as PEM files.
type certFiles struct {
	cert              *x509.Certificate
	key               *rsa.PrivateKey
	certFile, keyFile string // the key as PKCS #8
	pkcs1File         string // the key as PKCS #1
	bundleFile        string // certificate and PKCS #8 key in one file
	keyPEM            string
}

func newCertFiles(t *testing.T) *certFiles {
	t.Helper()
	return makeCertFiles(t, time.Now().Add(365*24*time.Hour))
}

// makeCertFiles is newCertFiles with a certificate valid until notAfter.
func makeCertFiles(t *testing.T, notAfter time.Time) *certFiles {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tocsin alerts"},
		NotBefore:    notAfter.Add(-366 * 24 * time.Hour),
		NotAfter:     notAfter,
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
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	p1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	dir := t.TempDir()
	return &certFiles{
		cert: cert, key: key,
		certFile:   writeFile(t, dir, "cert.pem", certPEM),
		keyFile:    writeFile(t, dir, "key.pem", keyPEM),
		pkcs1File:  writeFile(t, dir, "key-pkcs1.pem", p1PEM),
		bundleFile: writeFile(t, dir, "bundle.pem", append(append([]byte(nil), certPEM...), keyPEM...)),
		keyPEM:     string(keyPEM),
	}
}

// ecKeyFile writes an EC private key (PKCS #8) and returns its path.
func ecKeyFile(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails t if any of texts contains one of secrets (or, for a
// PEM key, its base64 body lines).
func noSecrets(t *testing.T, what string, texts []string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		needles := []string{s}
		if strings.Contains(s, "-----BEGIN") {
			needles = nil
			for _, line := range strings.Split(s, "\n") {
				if len(line) > 20 && !strings.HasPrefix(line, "-----") {
					needles = append(needles, line)
				}
			}
		} else if len(s) > 64 {
			needles = append(needles, s[:64], s[len(s)-64:]) // a truncated copy leaks too
		}
		for _, text := range texts {
			for _, n := range needles {
				if i := strings.Index(text, n); i >= 0 {
					t.Errorf("%s: a secret (%d bytes) appears at byte %d of a %d-byte text", what, len(s), i, len(text))
				}
			}
		}
	}
}
