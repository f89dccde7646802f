// Package amtest holds test stand-ins for Alertmanager: a fake instance
// on 127.0.0.1 that records requests and answers as told, and a CA
// generated for a test with a server certificate for 127.0.0.1.
package amtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Request is one request a fake instance got.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// FakeAM is an httptest server on 127.0.0.1 standing in for one
// Alertmanager: it records requests and answers as told (200 by default).
type FakeAM struct {
	// Server is the running server; close it to take the instance down.
	Server *httptest.Server

	mu       sync.Mutex
	requests []Request
	answer   func(r Request) (status int, header http.Header, body string)
}

// New starts a fake instance over plain http, stopped when the test ends.
func New(t testing.TB) *FakeAM {
	t.Helper()
	f := &FakeAM{}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Server.Close)
	return f
}

// ServeHTTP records the request and answers it.
func (f *FakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: b}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	answer := f.answer
	f.mu.Unlock()
	status, header, body := http.StatusOK, http.Header(nil), ""
	if answer != nil {
		status, header, body = answer(req)
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// SetAnswer makes a answer every request from now on.
func (f *FakeAM) SetAnswer(a func(r Request) (int, http.Header, string)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// Got returns the requests so far, oldest first.
func (f *FakeAM) Got() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// URL is the instance's base URL.
func (f *FakeAM) URL(t testing.TB) *url.URL {
	t.Helper()
	return MustURL(t, f.Server.URL)
}

// MustURL parses s or fails the test.
func MustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// DeadURL is an address on 127.0.0.1 where nothing listens.
func DeadURL(t testing.TB) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return MustURL(t, "http://"+addr)
}

// CA is a CA generated for a test and a server certificate for
// 127.0.0.1 that it signed.
type CA struct {
	// CertPEM is the CA certificate, PEM-encoded.
	CertPEM []byte
	// Server is the certificate for 127.0.0.1 and its key.
	Server tls.Certificate
}

// NewCA generates a CA and a server certificate for 127.0.0.1, valid for
// an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Tocsin amtest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	must(t, err)
	return &CA{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Server:  tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
	}
}

// File writes the CA certificate as a PEM file, a ca_file.
func (ca *CA) File(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(p, ca.CertPEM, 0o600))
	return p
}

// NewTLS is a fake instance serving https with a certificate ca
// signed.
func NewTLS(t testing.TB, ca *CA) *FakeAM {
	t.Helper()
	f := &FakeAM{}
	f.Server = httptest.NewUnstartedServer(f)
	f.Server.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	f.Server.StartTLS()
	t.Cleanup(f.Server.Close)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
