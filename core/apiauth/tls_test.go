package apiauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// testCert is a certificate and its key, made for a test.
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// tlsCert returns c as a tls.Certificate.
func (c testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// fingerprint returns the SHA-256 of c's DER.
func (c testCert) fingerprint() [32]byte {
	return sha256.Sum256(c.cert.Raw)
}

// newCert makes a certificate for cn, signed by parent, or self-signed when
// parent is nil. isCA makes it a CA.
func newCert(t testing.TB, cn string, parent *testCert, isCA bool) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert: cert, key: key}
}

// startTLS serves h over TLS on 127.0.0.1 with clientAuth, trusting
// clientCAs for client certificates, until the test ends.
func startTLS(t *testing.T, h http.Handler, clientAuth tls.ClientAuthType, clientCAs *x509.CertPool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: clientAuth, ClientCAs: clientCAs, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// clientWith returns a client of srv that presents cert, if not nil.
func clientWith(srv *httptest.Server, cert *testCert) *http.Client {
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert.tlsCert()}
	}
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr}
}
