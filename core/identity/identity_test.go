package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// generated loads (and so generates) an identity in a new data_dir and
// returns it with that data_dir.
func generated(t *testing.T) (*Identity, string) {
	t.Helper()
	dataDir := t.TempDir()
	id, err := Load(dataDir, "", "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return id, dataDir
}

// perm returns the permission bits of the file at name.
func perm(t *testing.T, name string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// copyFile copies src to dst with mode m.
func copyFile(t *testing.T, src, dst string, m fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, m); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestLoad_generates(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	now = func() time.Time { return at }
	hostname = func() (string, error) { return "node-a", nil }
	t.Cleanup(func() { now, hostname = time.Now, os.Hostname })

	id, dataDir := generated(t)
	dir := filepath.Join(dataDir, "tls")
	if got := perm(t, dir); got != 0o700 {
		t.Errorf("%s has mode %#o, want 0700", dir, got)
	}
	for _, name := range []string{"agent.crt", "agent.key"} {
		if got := perm(t, filepath.Join(dir, name)); got != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", name, got)
		}
	}
	if !id.Generated() || !id.Created() {
		t.Errorf("Generated, Created = %v, %v; want true, true", id.Generated(), id.Created())
	}
	if id.CertFile() != filepath.Join(dir, "agent.crt") || id.KeyFile() != filepath.Join(dir, "agent.key") {
		t.Errorf("CertFile, KeyFile = %s, %s", id.CertFile(), id.KeyFile())
	}
	c := id.Leaf()
	if id.Fingerprint() != Fingerprint(c.Raw) {
		t.Errorf("Fingerprint = %s, want that of the certificate, %s", id.Fingerprint(), Fingerprint(c.Raw))
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", c.PublicKey)
	}
	if c.Subject.CommonName != "tocsin" || c.Issuer.CommonName != "tocsin" {
		t.Errorf("subject, issuer = %s, %s; want CN tocsin", c.Subject, c.Issuer)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if want := at.Add(-time.Hour); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %s, want %s", c.NotBefore, want)
	}
	if want := at.Add(-time.Hour).AddDate(20, 0, 0); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %s, want %s", c.NotAfter, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %s is not a large random positive number", c.SerialNumber)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want digital signature", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want server and client auth", c.ExtKeyUsage)
	}
	if !slices.Equal(c.DNSNames, []string{"node-a", "localhost"}) {
		t.Errorf("DNSNames = %v", c.DNSNames)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !c.IPAddresses[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IPAddresses = %v", c.IPAddresses)
	}
	// A second certificate gets another serial.
	other, _ := generated(t)
	if other.Leaf().SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two certificates have the same serial")
	}
}

func TestLoad_reuses(t *testing.T) {
	first, dataDir := generated(t)
	again, err := Load(dataDir, "", "")
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if again.Fingerprint() != first.Fingerprint() {
		t.Errorf("second Load has fingerprint %s, want the first's %s", again.Fingerprint(), first.Fingerprint())
	}
	if !again.Generated() || again.Created() {
		t.Errorf("second Load: Generated, Created = %v, %v; want true, false", again.Generated(), again.Created())
	}
}

func TestLoad_keyMode(t *testing.T) {
	if !checkModes {
		t.Skip("no Unix file modes here")
	}
	tests := []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o644, false},
		{0o640, false},
		{0o604, false},
		{0o660, false},
		{0o666, false},
		{0o610, false},
	}
	for _, operator := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("operator=%v/%#o", operator, tt.mode), func(t *testing.T) {
				id, dataDir := generated(t)
				certFile, keyFile := "", ""
				key := id.KeyFile()
				if operator {
					dir := t.TempDir()
					certFile, keyFile = filepath.Join(dir, "op.crt"), filepath.Join(dir, "op.key")
					copyFile(t, id.CertFile(), certFile, 0o644)
					copyFile(t, id.KeyFile(), keyFile, 0o600)
					key = keyFile
				}
				if err := os.Chmod(key, tt.mode); err != nil {
					t.Fatal(err)
				}
				_, err := Load(dataDir, certFile, keyFile)
				if tt.ok {
					if err != nil {
						t.Fatalf("Load with a %#o key: %v", tt.mode, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Load accepted a %#o key", tt.mode)
				}
				for _, want := range []string{key, fmt.Sprintf("%#o", tt.mode), "chmod 600 " + key} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if !errors.Is(err, fsafe.ErrUnsafe) {
					t.Errorf("error %v does not wrap fsafe.ErrUnsafe", err)
				}
			})
		}
	}
}

func TestLoad_operatorFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent-key.pem")
	copyFile(t, "testdata/openssl.crt", certFile, 0o644)
	copyFile(t, "testdata/openssl.key", keyFile, 0o600)
	// certbot's live/ files are links: they are followed.
	link := filepath.Join(dir, "privkey.pem")
	if err := os.Symlink(keyFile, link); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{keyFile, link} {
		dataDir := t.TempDir()
		id, err := Load(dataDir, certFile, key)
		if err != nil {
			t.Fatalf("Load(%s): %v", key, err)
		}
		if id.Fingerprint() != fixtureFingerprint {
			t.Errorf("Fingerprint = %s, want %s", id.Fingerprint(), fixtureFingerprint)
		}
		if id.Generated() || id.Created() {
			t.Errorf("Generated, Created = %v, %v; want false, false", id.Generated(), id.Created())
		}
		if id.CertFile() != certFile || id.KeyFile() != key {
			t.Errorf("CertFile, KeyFile = %s, %s", id.CertFile(), id.KeyFile())
		}
		if _, err := os.Stat(filepath.Join(dataDir, "tls")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load with operator files made data_dir/tls (%v)", err)
		}
	}
}

func TestLoad_mismatch(t *testing.T) {
	a, _ := generated(t)
	b, bDir := generated(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "a.crt"), filepath.Join(dir, "b.key")
	copyFile(t, a.CertFile(), certFile, 0o644)
	copyFile(t, b.KeyFile(), keyFile, 0o600)
	_, err := Load("", certFile, keyFile)
	if err == nil {
		t.Fatal("Load accepted a key that is not the certificate's")
	}
	for _, want := range []string{certFile, keyFile, "does not match"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// In data_dir: a's certificate beside b's key.
	copyFile(t, a.CertFile(), b.CertFile(), 0o600)
	_, err = Load(bDir, "", "")
	if err == nil {
		t.Fatal("Load accepted a generated key that is not the certificate's")
	}
	if !strings.Contains(err.Error(), "remove both") {
		t.Errorf("error %q does not say how to start over", err)
	}
}

func TestLoad_arguments(t *testing.T) {
	tests := []struct {
		name                       string
		dataDir, certFile, keyFile string
		want                       string
	}{
		{"cert without key", "/d", "/a.crt", "", "set both"},
		{"key without cert", "/d", "", "/a.key", "set both"},
		{"nothing at all", "", "", "", "data_dir is not set"},
		{"missing key file", "", "testdata/openssl.crt", "/nonexistent/a.key", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Load(tt.dataDir, tt.certFile, tt.keyFile)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, %v; want an error saying %q", id, err, tt.want)
			}
		})
	}
}

func TestLoad_notARegularFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load("", "testdata/openssl.crt", dir)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Load with a directory as key = %v, want it refused", err)
	}
}

func TestLoad_certWithoutKey(t *testing.T) {
	id, dataDir := generated(t)
	if err := os.Remove(id.KeyFile()); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dataDir, "", "")
	if err == nil {
		t.Fatal("Load made a new key for an existing certificate")
	}
	if !strings.Contains(err.Error(), "restore the key") {
		t.Errorf("error %q does not say what to do", err)
	}
	if _, err := os.Stat(id.KeyFile()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load left a key behind (%v)", err)
	}
}

// A crash between the key and the certificate: the next start makes the
// certificate of the key there.
func TestLoad_keyWithoutCert(t *testing.T) {
	first, dataDir := generated(t)
	if err := os.Remove(first.CertFile()); err != nil {
		t.Fatal(err)
	}
	id, err := Load(dataDir, "", "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !id.Created() {
		t.Error("Created = false, want true: a new certificate to pin")
	}
	if !id.Leaf().PublicKey.(*ecdsa.PublicKey).Equal(first.Leaf().PublicKey) {
		t.Error("the new certificate is not for the key that was there")
	}
}

// A temporary file that a crash left is not taken for the key.
func TestLoad_leftoverTemp(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".agent.key.123.tmp")
	if err := os.WriteFile(tmp, []byte("-----BEGIN PRIVATE KEY-----\nMIGH"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := Load(dataDir, "", "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !id.Created() {
		t.Error("Created = false, want true")
	}
}

// Each file is flushed before it gets its name: a crash never leaves
// part of a key under agent.key.
func TestLoad_syncedBeforeNamed(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "tls")
	var synced []string
	syncFile = func(f *os.File) error {
		for _, name := range []string{"agent.key", "agent.crt"} {
			if strings.HasPrefix(filepath.Base(f.Name()), "."+name+".") {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s has its name before it is flushed", name)
				}
				synced = append(synced, name)
			}
		}
		return f.Sync()
	}
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	if _, err := Load(dataDir, "", ""); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.Equal(synced, []string{"agent.key", "agent.crt"}) {
		t.Errorf("flushed %v, want the key, then the certificate", synced)
	}
}

func TestLoad_refusesLink(t *testing.T) {
	id, dataDir := generated(t)
	elsewhere := filepath.Join(t.TempDir(), "k")
	if err := os.Rename(id.KeyFile(), elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, id.KeyFile()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dataDir, "", ""); !errors.Is(err, fsafe.ErrUnsafe) {
		t.Fatalf("Load with a link at agent.key = %v, want it refused as unsafe", err)
	}
}

func TestLoad_concurrent(t *testing.T) {
	dataDir := t.TempDir()
	const n = 8
	ids := make([]*Identity, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = Load(dataDir, "", "") })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Load %d: %v", i, errs[i])
		}
		if ids[i].Fingerprint() != ids[0].Fingerprint() {
			t.Errorf("Load %d has fingerprint %s, Load 0 has %s", i, ids[i].Fingerprint(), ids[0].Fingerprint())
		}
		if ids[i].Created() {
			created++
		}
	}
	if created == 0 {
		t.Error("no Load says it created the identity")
	}
	again, err := Load(dataDir, "", "")
	if err != nil {
		t.Fatalf("Load after: %v", err)
	}
	if again.Fingerprint() != ids[0].Fingerprint() {
		t.Errorf("the files hold %s, the racers use %s", again.Fingerprint(), ids[0].Fingerprint())
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"agent.crt", "agent.key"}) {
		t.Errorf("data_dir/tls holds %v, want only agent.crt and agent.key", names)
	}
}

func TestPublish_neverReplaces(t *testing.T) {
	dir := t.TempDir()
	won, err := publish(dir, "f", []byte("first"))
	if err != nil || !won {
		t.Fatalf("first publish = %v, %v; want true, nil", won, err)
	}
	won, err = publish(dir, "f", []byte("second"))
	if err != nil || won {
		t.Fatalf("second publish = %v, %v; want false, nil", won, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "first" {
		t.Errorf("f holds %q, want the first data", data)
	}
	if got := perm(t, filepath.Join(dir, "f")); got != 0o600 {
		t.Errorf("f has mode %#o, want 0600", got)
	}
}
