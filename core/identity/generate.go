package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// validityYears is how long a generated certificate is valid, from an hour
// before it is made (a partner whose clock is a little behind accepts
// it).
const validityYears = 20

// Hooks that tests replace: the clock, the host name, and the flush of a
// file (which nothing else can observe).
var (
	now      = time.Now
	hostname = os.Hostname
	syncFile = (*os.File).Sync
)

// loadGenerated loads the identity kept in dir (data_dir/tls), generating
// what is missing.
func loadGenerated(dir string) (*Identity, error) {
	certFile := filepath.Join(dir, CertName)
	keyFile := filepath.Join(dir, KeyName)
	if err := fsafe.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create TLS identity directory: %w", err)
	}
	if err := fsafe.CheckDir(dir); err != nil {
		return nil, fmt.Errorf("load TLS identity: %w", err)
	}
	created := false

	keyPEM, err := readGeneratedKey(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if _, cerr := os.Lstat(certFile); cerr == nil {
			// Keys are published before certificates, so a racer
			// that made this certificate has published its key:
			// look again before calling the key lost.
			if keyPEM, err = readGeneratedKey(keyFile); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("load TLS identity: certificate %s exists but its key %s does not: restore the key from a backup, "+
					"or remove %s to make a new identity (the partner must then pin the new fingerprint)", certFile, keyFile, certFile)
			}
		} else {
			won, gerr := generateKey(dir)
			if gerr != nil {
				return nil, gerr
			}
			created = won
			keyPEM, err = readGeneratedKey(keyFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load TLS identity: %w", err)
	}
	defer clear(keyPEM)

	certPEM, err := readGeneratedCert(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		won, gerr := generateCert(dir, keyFile, keyPEM)
		if gerr != nil {
			return nil, gerr
		}
		created = created || won
		certPEM, err = readGeneratedCert(certFile)
	}
	if err != nil {
		return nil, fmt.Errorf("load TLS identity: %w", err)
	}

	id, err := newIdentity(certPEM, keyPEM, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w; tocsin generated these files: to make a new identity, remove both (the partner must then pin the new fingerprint)", err)
	}
	id.generated = true
	id.created = created
	return id, nil
}

// readGeneratedKey reads the generated key file: a regular file, not a
// link, of a trusted owner (package fsafe), that group and others cannot
// read.
func readGeneratedKey(name string) ([]byte, error) {
	// Name the mode first, whatever else is wrong with it.
	if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() {
		if err := checkKeyMode(name, fi.Mode()); err != nil {
			return nil, err
		}
	}
	f, err := fsafe.OpenFile(name, os.O_RDONLY, 0, fsafe.State)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", name, err)
	}
	if err := checkKeyMode(name, fi.Mode()); err != nil {
		return nil, err
	}
	return readLimited(f, name, "key")
}

// readGeneratedCert reads the generated certificate file: a regular
// file, not a link, of a trusted owner that group and others cannot
// change (package fsafe).
func readGeneratedCert(name string) ([]byte, error) {
	return fsafe.ReadFile(name, maxFileSize, fsafe.State)
}

// generateKey makes a new ECDSA P-256 key and publishes it in dir,
// unless a key is there already. It reports whether it published one.
func generateKey(dir string) (bool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generate TLS key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, fmt.Errorf("generate TLS key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(data)
	won, err := publish(dir, KeyName, data)
	if err != nil {
		return false, fmt.Errorf("generate TLS key: %w", err)
	}
	return won, nil
}

// generateCert makes a self-signed certificate for the key in keyPEM
// (read from keyFile) and publishes it in dir, unless a certificate is
// there already. It reports whether it published one.
func generateCert(dir, keyFile string, keyPEM []byte) (bool, error) {
	key, err := parseSigner(keyPEM)
	if err != nil {
		return false, fmt.Errorf("generate TLS certificate: key %s: %w; tocsin generated it: remove it to make a new identity", keyFile, err)
	}
	der, err := selfSigned(key)
	if err != nil {
		return false, fmt.Errorf("generate TLS certificate: %w", err)
	}
	won, err := publish(dir, CertName, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		return false, fmt.Errorf("generate TLS certificate: %w", err)
	}
	return won, nil
}

// parseSigner reads the private key in the first PEM block of data.
func parseSigner(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T cannot sign", k)
	}
	return s, nil
}

// selfSigned makes the DER of a self-signed certificate for key: CN
// "tocsin", a random serial, valid from an hour ago for 20 years, for
// server and client authentication, naming the host, localhost and the
// loopback addresses (the pin is what matters, not the names).
func selfSigned(key crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("make serial number: %w", err)
	}
	serial.Add(serial, big.NewInt(1)) // positive, never 0
	names := []string{"localhost"}
	if h, err := hostname(); err == nil && h != "" && h != "localhost" {
		names = append([]string{h}, names...)
	}
	notBefore := now().Add(-time.Hour).UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tocsin"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(validityYears, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// publish makes dir/name hold data (mode 0600) unless a file is there
// already, and reports whether it did. The data goes to a temporary file
// in dir first, flushed, then hard-linked to its name: the file appears
// complete or not at all, an existing one is never replaced, and of
// several racers exactly one wins. On a file system without hard links
// the temporary file is renamed to its name when that is free: still
// complete or absent, but two racers there may both publish, the last
// one winning (Load then finds a key and certificate that do not match
// and says so; a restart makes them agree).
func publish(dir, name string, data []byte) (bool, error) {
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return false, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	// Root writing in the agent's directory gives the file to its owner.
	if err := fsafe.Adopt(tmp, dir); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := writeSynced(tmp, data); err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), final)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return false, nil // another process or goroutine was first
	default:
		if _, serr := os.Lstat(final); serr == nil {
			return false, nil
		}
		if rerr := os.Rename(tmp.Name(), final); rerr != nil {
			return false, fmt.Errorf("publish %s: %w (after hard link: %v)", final, rerr, err)
		}
	}
	if err := fsafe.SyncDir(dir); err != nil {
		return false, err
	}
	return true, nil
}

// writeSynced writes data to f, sets its mode to 0600, flushes it to disk
// and closes it.
func writeSynced(f *os.File, data []byte) error {
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o600)
	}
	if werr == nil {
		werr = syncFile(f)
	}
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write %s: %w", f.Name(), werr)
	}
	if cerr != nil {
		return fmt.Errorf("write %s: %w", f.Name(), cerr)
	}
	return nil
}
