package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// Names of the generated identity's files, under data_dir.
const (
	// Dir is the directory below data_dir that holds the generated
	// identity (mode 0700).
	Dir = "tls"
	// CertName is the generated certificate's file name in Dir.
	CertName = "agent.crt"
	// KeyName is the generated private key's file name in Dir.
	KeyName = "agent.key"
)

// maxFileSize bounds what Load reads from a certificate or key file.
const maxFileSize = 1 << 20

// Identity is the agent's TLS identity: a private key and its
// certificate (with the chain, for operator files), from the operator's
// files or generated in data_dir.
type Identity struct {
	cert        tls.Certificate
	fingerprint string
	certFile    string
	keyFile     string
	generated   bool
	created     bool
}

// Certificate returns the identity as crypto/tls uses it; its Leaf is
// set.
func (id *Identity) Certificate() tls.Certificate { return id.cert }

// Leaf returns the identity's own certificate (the first of the chain).
func (id *Identity) Leaf() *x509.Certificate { return id.cert.Leaf }

// Fingerprint returns the fingerprint of the identity's certificate, in
// the form Fingerprint prints: what the partner pins.
func (id *Identity) Fingerprint() string { return id.fingerprint }

// Generated reports whether the identity is the agent's own, kept in
// data_dir/tls (generated there, now or on an earlier start), rather than
// the operator's cert_file and key_file.
func (id *Identity) Generated() bool { return id.generated }

// Created reports whether this Load wrote the generated identity's key
// or certificate: a new identity that the partner has yet to pin.
func (id *Identity) Created() bool { return id.created }

// CertFile returns the path of the certificate file used.
func (id *Identity) CertFile() string { return id.certFile }

// KeyFile returns the path of the private key file used.
func (id *Identity) KeyFile() string { return id.keyFile }

// Load returns the agent's TLS identity.
//
// With certFile and keyFile, it loads them (PEM; the certificate file may
// hold the chain after the certificate). The key file must not be
// readable by group or others, and must hold the key of the certificate.
//
// With neither, it uses dataDir/tls/agent.crt and dataDir/tls/agent.key,
// generating what is missing (see the package doc): the directories are
// created with mode 0700, the files with mode 0600, atomically. An
// existing key more open than 0600 is refused, as is a certificate
// without its key or one that does not match the key.
//
// With only one of them, it is an error: both are needed.
func Load(dataDir, certFile, keyFile string) (*Identity, error) {
	switch {
	case certFile != "" && keyFile != "":
		return loadFiles(certFile, keyFile)
	case certFile != "" || keyFile != "":
		return nil, errors.New("load TLS identity: cert_file and key_file go together: set both (the operator's certificate and its key), or neither to use the identity tocsin generates in data_dir")
	case dataDir == "":
		return nil, errors.New("load TLS identity: data_dir is not set: set data_dir, where tocsin keeps its generated identity, or set cert_file and key_file")
	default:
		return loadGenerated(filepath.Join(dataDir, Dir))
	}
}

// loadFiles loads the operator's certificate and key.
func loadFiles(certFile, keyFile string) (*Identity, error) {
	keyPEM, err := readOperatorFile(keyFile, true)
	if err != nil {
		return nil, fmt.Errorf("load TLS identity: %w", err)
	}
	defer clear(keyPEM)
	certPEM, err := readOperatorFile(certFile, false)
	if err != nil {
		return nil, fmt.Errorf("load TLS identity: %w", err)
	}
	id, err := newIdentity(certPEM, keyPEM, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return id, nil
}

// newIdentity builds an Identity from PEM data read from certFile and
// keyFile.
func newIdentity(certPEM, keyPEM []byte, certFile, keyFile string) (*Identity, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The errors of crypto/tls name no file and hold no key bytes.
		return nil, fmt.Errorf("load TLS identity from certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("load TLS identity: parse certificate %s: %w", certFile, err)
		}
	}
	return &Identity{
		cert:        cert,
		fingerprint: Fingerprint(cert.Certificate[0]),
		certFile:    certFile,
		keyFile:     keyFile,
	}, nil
}

// readOperatorFile reads one of the operator's files. It follows links
// (certificates are often links, as certbot makes them) and checks the
// file it opened: a regular file and, for a key, one that group and
// others cannot read.
func readOperatorFile(name string, key bool) ([]byte, error) {
	what := "certificate"
	if key {
		what = "key"
	}
	f, err := os.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: %s is not a regular file (mode %s)", what, name, fi.Mode())
	}
	if key {
		if err := checkKeyMode(name, fi.Mode()); err != nil {
			return nil, err
		}
	}
	return readLimited(f, name, what)
}

// readLimited reads all of f, at most maxFileSize bytes.
func readLimited(f *os.File, name, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("read %s %s: %w", what, name, err)
	}
	if len(data) > maxFileSize {
		clear(data)
		return nil, fmt.Errorf("read %s: %s is larger than %d bytes", what, name, maxFileSize)
	}
	return data, nil
}

// checkKeyMode refuses a private key file, name, of mode m that group or
// others may read (or write, or run). The error wraps fsafe.ErrUnsafe.
func checkKeyMode(name string, m fs.FileMode) error {
	if !checkModes {
		return nil
	}
	if perm := m.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("key file %s has mode %#o, which lets group or others read it: %w. The private key must be readable only by the user tocsin runs as: run chmod 600 %s",
			name, perm, fsafe.ErrUnsafe, name)
	}
	return nil
}
