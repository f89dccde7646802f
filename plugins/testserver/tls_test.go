package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func serverTLS(t *testing.T, ca *CA, hosts ...string) *tls.Config {
	t.Helper()
	cfg, err := ca.ServerTLSConfig(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNewCA(t *testing.T) {
	t.Parallel()
	before := time.Now()
	ca := newTestCA(t)
	cert := ca.Certificate()
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v, want both true", cert.IsCA, cert.BasicConstraintsValid)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if d := before.Add(-time.Hour).Sub(cert.NotBefore); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("NotBefore %v, want about now-1h", cert.NotBefore)
	}
	if d := before.Add(24 * time.Hour).Sub(cert.NotAfter); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("NotAfter %v, want about now+24h", cert.NotAfter)
	}

	block, rest := pem.Decode(ca.CertPEM())
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("CertPEM is not a single CERTIFICATE block")
	}
	if !bytes.Equal(block.Bytes, cert.Raw) {
		t.Error("CertPEM does not hold the CA certificate")
	}
	// CertPEM returns a copy.
	p := ca.CertPEM()
	p[0] = 'X'
	if ca.CertPEM()[0] == 'X' {
		t.Error("CertPEM returned the internal slice")
	}

	other := newTestCA(t)
	if cert.SerialNumber.Cmp(other.Certificate().SerialNumber) == 0 {
		t.Error("two CAs share a serial number")
	}
}

func TestWriteCertFile(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	// An existing file with other permissions is replaced and re-moded.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ca.pem"); path != want {
		t.Errorf("path %q, want %q", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ca.CertPEM()) {
		t.Error("file content differs from CertPEM")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Error("file is not usable as a CA bundle")
	}

	if _, err := ca.WriteCertFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("WriteCertFile into a missing directory succeeded")
	}
}

func TestServerTLSConfig(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tests := []struct {
		name    string
		hosts   []string
		valid   []string
		invalid []string
	}{
		{
			name:    "default",
			valid:   []string{"127.0.0.1", "localhost"},
			invalid: []string{"::1", "example.com", "127.0.0.2"},
		},
		{
			name:    "custom",
			hosts:   []string{"smtp.example.test", "::1", "10.1.2.3"},
			valid:   []string{"smtp.example.test", "::1", "10.1.2.3"},
			invalid: []string{"127.0.0.1", "localhost", "example.test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := serverTLS(t, ca, tt.hosts...)
			if len(cfg.Certificates) != 1 {
				t.Fatalf("%d certificates, want 1", len(cfg.Certificates))
			}
			if cfg.MinVersion < tls.VersionTLS12 {
				t.Errorf("MinVersion %x, want at least TLS 1.2", cfg.MinVersion)
			}
			leaf := cfg.Certificates[0].Leaf
			if leaf.IsCA {
				t.Error("leaf is a CA")
			}
			if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
				t.Errorf("leaf key %T, want ECDSA", leaf.PublicKey)
			}
			for _, h := range tt.valid {
				opts := x509.VerifyOptions{DNSName: h, Roots: ca.ClientPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
				if _, err := leaf.Verify(opts); err != nil {
					t.Errorf("verify %q: %v", h, err)
				}
			}
			for _, h := range tt.invalid {
				opts := x509.VerifyOptions{DNSName: h, Roots: ca.ClientPool()}
				if _, err := leaf.Verify(opts); err == nil {
					t.Errorf("verify %q succeeded, want failure", h)
				}
			}
			// Another CA does not vouch for it.
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: newTestCA(t).ClientPool()}); err == nil {
				t.Error("leaf verified against an unrelated CA")
			}
		})
	}

	if _, err := ca.ServerTLSConfig("localhost", ""); err == nil {
		t.Error("empty host accepted")
	}
}

// TestTLSHandshake runs a real handshake with the generated certificates,
// independent of SMTP.
func TestTLSHandshake(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS(t, ca))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), ca.ClientTLSConfig("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
