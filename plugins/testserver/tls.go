package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"
)

// CA is a throw-away certificate authority: a self-signed ECDSA P-256 CA
// certificate and its private key, both generated in memory. It signs the
// leaf certificates the test servers present. A CA is immutable after
// [NewCA] returns and is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA generates a new self-signed CA certificate and ECDSA P-256 key. The
// certificate is valid from one hour ago until 24 hours from now, so small
// clock differences do not matter and it is useless once the test run is
// over.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testserver: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tocsin testserver CA", Organization: []string{"tocsin testserver"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testserver: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testserver: parse CA certificate: %w", err)
	}
	return &CA{
		cert: cert,
		key:  key,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Certificate returns the parsed CA certificate. The caller must not modify
// it.
func (ca *CA) Certificate() *x509.Certificate {
	return ca.cert
}

// CertPEM returns the CA certificate, PEM encoded. The returned slice is a
// copy.
func (ca *CA) CertPEM() []byte {
	return append([]byte(nil), ca.pem...)
}

// WriteCertFile writes the CA certificate in PEM form to the file ca.pem in
// dir, with mode 0644, replacing any existing file, and returns the file's
// path. It is meant for a plugin's ca_file setting; dir is typically
// t.TempDir().
func (ca *CA) WriteCertFile(dir string) (string, error) {
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, ca.pem, 0o644); err != nil {
		return "", fmt.Errorf("testserver: write CA file: %w", err)
	}
	// os.WriteFile applies the umask and keeps the mode of an existing
	// file; the contract is 0644.
	if err := os.Chmod(path, 0o644); err != nil {
		return "", fmt.Errorf("testserver: write CA file: %w", err)
	}
	return path, nil
}

// ServerTLSConfig generates a fresh ECDSA P-256 leaf certificate signed by
// the CA and returns a server TLS configuration presenting it. Each host is
// put in the certificate's subject alternative names: as an IP address if it
// parses as one, otherwise as a DNS name. With no hosts, the certificate
// covers "127.0.0.1" and "localhost". The leaf has the same validity window
// as the CA. The minimum TLS version is 1.2.
func (ca *CA) ServerTLSConfig(hosts ...string) (*tls.Config, error) {
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testserver: generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"tocsin testserver"}},
		NotBefore:             ca.cert.NotBefore,
		NotAfter:              ca.cert.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if h == "" {
			return nil, errors.New("testserver: empty host name for server certificate")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("testserver: create server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testserver: parse server certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{der},
			PrivateKey:  key,
			Leaf:        leaf,
		}},
		MinVersion: tls.VersionTLS12,
	}, nil
}

// ClientPool returns a new certificate pool holding only the CA
// certificate, for a client's tls.Config.RootCAs.
func (ca *CA) ClientPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// ClientTLSConfig returns a client TLS configuration that trusts only the CA
// and verifies the server certificate against serverName (an IP address or
// a DNS name, e.g. "127.0.0.1").
func (ca *CA) ClientTLSConfig(serverName string) *tls.Config {
	return &tls.Config{
		RootCAs:    ca.ClientPool(),
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
	}
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("testserver: generate serial number: %w", err)
	}
	return serial, nil
}

// startHTTPS serves h over TLS on 127.0.0.1 with a fresh certificate from
// ca: the provider stand-ins all start this way.
func startHTTPS(ca *CA, h http.Handler) (*httptest.Server, error) {
	tc, err := ca.ServerTLSConfig()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = tc
	// Tests provoke failed handshakes on purpose (an untrusted CA); they
	// read the client's error, not the server's log line.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv, nil
}
