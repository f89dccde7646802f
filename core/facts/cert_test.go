package facts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// certNow is the clock of the cert tests.
var certNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCert is a generated certificate and its key.
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

// newTestCert makes a certificate for cn (also its DNS name) valid from
// notBefore to notAfter, signed by parent, or self-signed when parent is
// nil. isCA makes it an authority.
func newTestCert(t *testing.T, cn string, notBefore, notAfter time.Time, parent *testCert, isCA bool) *testCert {
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
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if !isCA {
		tmpl.DNSNames = []string{cn}
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
	return &testCert{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// certPKI is an authority and a certificate for web.test that it signed,
// expiring in 30 days and 1 hour.
type certPKI struct {
	ca, leaf *testCert
	caFile   string
}

func newCertPKI(t *testing.T) certPKI {
	t.Helper()
	ca := newTestCert(t, "Test CA", certNow.Add(-time.Hour), certNow.Add(365*24*time.Hour), nil, true)
	leaf := newTestCert(t, "web.test", certNow.Add(-time.Hour), certNow.Add(30*24*time.Hour+time.Hour), ca, false)
	return certPKI{ca: ca, leaf: leaf, caFile: writeFile(t, "ca.pem", ca.pem)}
}

// serveTLS serves cert on 127.0.0.1 until the test ends and returns the
// address.
func serveTLS(t *testing.T, cert *testCert) string {
	t.Helper()
	return serveTLSWith(t, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.cert.Raw}, PrivateKey: cert.key, Leaf: cert.cert}},
		MinVersion:   tls.VersionTLS12,
	})
}

// serveTLSWith serves TLS with cfg on 127.0.0.1 until the test ends and
// returns the address.
func serveTLSWith(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// runCert runs a cert check with the clock at certNow.
func runCert(t *testing.T, c *CertSpec) Fact {
	t.Helper()
	return runWith(t, Spec{Name: "tls", Timeout: 5 * time.Second, Options: c}, systemEnv(func() time.Time { return certNow }))
}

func TestCheckCert_File(t *testing.T) {
	t.Parallel()
	pki := newCertPKI(t)
	// The leaf, then its authority, as a chain file holds them.
	chainFile := writeFile(t, "chain.pem", pki.leaf.pem+pki.ca.pem)
	tests := []struct {
		name         string
		spec         CertSpec
		verified     bool
		verifyErrHas string
	}{
		{name: "trusted authority and name", spec: CertSpec{File: chainFile, CAFile: pki.caFile, ServerName: "web.test"}, verified: true},
		{name: "trusted authority, no name", spec: CertSpec{File: chainFile, CAFile: pki.caFile}, verified: true},
		{name: "wrong name", spec: CertSpec{File: chainFile, CAFile: pki.caFile, ServerName: "other.test"}, verifyErrHas: "other.test"},
		{name: "unknown authority", spec: CertSpec{File: chainFile}, verifyErrHas: "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := runCert(t, &tt.spec)
			wantOK(t, f, true, "")
			if f.Kind != KindCert {
				t.Errorf("Kind = %q, want cert", f.Kind)
			}
			if got := num(t, f, "days_left"); got != 30 {
				t.Errorf("days_left = %v, want 30", got)
			}
			if got, want := str(t, f, "not_after"), pki.leaf.cert.NotAfter.UTC().Format(time.RFC3339); got != want {
				t.Errorf("not_after = %q, want %q", got, want)
			}
			if got := str(t, f, "subject"); got != "CN=web.test" {
				t.Errorf("subject = %q", got)
			}
			if got := str(t, f, "issuer"); got != "CN=Test CA" {
				t.Errorf("issuer = %q", got)
			}
			if got := str(t, f, "file"); got != chainFile {
				t.Errorf("file = %q, want %q", got, chainFile)
			}
			if !isNull(t, f, "address") {
				t.Error("address is set for a file")
			}
			if got := boolean(t, f, "verified"); got != tt.verified {
				t.Errorf("verified = %v, want %v (verify_error %q)", got, tt.verified, str(t, f, "verify_error"))
			}
			if ve := str(t, f, "verify_error"); !strings.Contains(ve, tt.verifyErrHas) || (tt.verified && ve != "") {
				t.Errorf("verify_error = %q, want it to hold %q", ve, tt.verifyErrHas)
			}
		})
	}
}

func TestCheckCert_Server(t *testing.T) {
	t.Parallel()
	pki := newCertPKI(t)
	addr := serveTLS(t, pki.leaf)
	tests := []struct {
		name     string
		spec     CertSpec
		verified bool
	}{
		{name: "trusted", spec: CertSpec{Address: addr, ServerName: "web.test", CAFile: pki.caFile}, verified: true},
		// Without server_name the name verified is the address's host,
		// 127.0.0.1, which the certificate does not name.
		{name: "wrong name", spec: CertSpec{Address: addr, CAFile: pki.caFile}},
		{name: "untrusted is still read", spec: CertSpec{Address: addr, ServerName: "web.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := runCert(t, &tt.spec)
			wantOK(t, f, true, "")
			if got := num(t, f, "days_left"); got != 30 {
				t.Errorf("days_left = %v, want 30", got)
			}
			if got := str(t, f, "address"); got != addr {
				t.Errorf("address = %q, want %q", got, addr)
			}
			if got := boolean(t, f, "verified"); got != tt.verified {
				t.Errorf("verified = %v, want %v (verify_error %q)", got, tt.verified, str(t, f, "verify_error"))
			}
			if got := str(t, f, "verify_error"); (got == "") != tt.verified {
				t.Errorf("verify_error = %q with verified %v", got, tt.verified)
			}
		})
	}
}

// TestCheckCert_ServerEndsHandshake reads the certificate of a server
// that ends the handshake because the client has no certificate of its
// own: with TLS 1.2 its certificate has come by then.
func TestCheckCert_ServerEndsHandshake(t *testing.T) {
	t.Parallel()
	pki := newCertPKI(t)
	addr := serveTLSWith(t, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{pki.leaf.cert.Raw}, PrivateKey: pki.leaf.key}},
		ClientAuth:   tls.RequireAnyClientCert,
		MaxVersion:   tls.VersionTLS12,
	})
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own server
	if err == nil {
		// The client may finish before the server's alert arrives;
		// the first read sees it.
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	if err == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
	f := runCert(t, &CertSpec{Address: addr, ServerName: "web.test", CAFile: pki.caFile})
	wantOK(t, f, true, "")
	if !boolean(t, f, "verified") || num(t, f, "days_left") != 30 {
		t.Errorf("verified %v, days_left %v; want true, 30", boolean(t, f, "verified"), num(t, f, "days_left"))
	}
}

func TestCheckCert_Expired(t *testing.T) {
	t.Parallel()
	expired := newTestCert(t, "old.test", certNow.Add(-90*24*time.Hour), certNow.Add(-50*time.Hour), nil, false)
	notYet := newTestCert(t, "new.test", certNow.Add(24*time.Hour), certNow.Add(90*24*time.Hour), nil, false)
	tests := []struct {
		name     string
		spec     CertSpec
		errPart  string
		daysLeft float64
	}{
		{name: "file", spec: CertSpec{File: writeFile(t, "old.pem", expired.pem)}, errPart: "expired on", daysLeft: -3},
		{name: "server", spec: CertSpec{Address: serveTLS(t, expired), ServerName: "old.test"}, errPart: "expired on", daysLeft: -3},
		{name: "not yet valid", spec: CertSpec{File: writeFile(t, "new.pem", notYet.pem)}, errPart: "not valid before", daysLeft: 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := runCert(t, &tt.spec)
			wantOK(t, f, false, tt.errPart)
			// What was read is there for rules and messages.
			if got := num(t, f, "days_left"); got != tt.daysLeft {
				t.Errorf("days_left = %v, want %v", got, tt.daysLeft)
			}
			if boolean(t, f, "verified") {
				t.Error("an invalid certificate verified")
			}
			if str(t, f, "not_after") == "" {
				t.Error("not_after is empty")
			}
		})
	}
}

func TestCheckCert_Unreadable(t *testing.T) {
	t.Parallel()
	notPEM := writeFile(t, "key.pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
	tests := []struct {
		name    string
		spec    CertSpec
		errPart string
	}{
		{name: "missing file", spec: CertSpec{File: filepath.Join(t.TempDir(), "none.pem")}, errPart: "no such file"},
		{name: "no certificate in the file", spec: CertSpec{File: notPEM}, errPart: "no PEM certificate"},
		{name: "unreachable address", spec: CertSpec{Address: closedPort(t)}, errPart: "refused"},
		{name: "not a TLS server", spec: CertSpec{Address: plainServer(t)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Fact
			within(t, 6*time.Second, func() { f = runCert(t, &tt.spec) })
			wantOK(t, f, false, tt.errPart)
			for _, name := range []string{"days_left", "not_after", "subject", "verified"} {
				if !isNull(t, f, name) {
					t.Errorf("%s = %#v, want null: nothing was read", name, f.Values[name])
				}
			}
		})
	}
}

// plainServer accepts connections on 127.0.0.1 and answers in plain text.
func plainServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("220 not tls here\r\n"))
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

func TestCertSpec_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec CertSpec
		want string // part of the error; empty for a valid spec
	}{
		{name: "file", spec: CertSpec{File: "/etc/ssl/web.pem"}},
		{name: "address", spec: CertSpec{Address: "mail.example.com:465", ServerName: "mail.example.com", CAFile: "/ca.pem"}},
		{name: "neither", spec: CertSpec{}, want: `check "tls": cert: set file (a PEM file) or address`},
		{name: "both", spec: CertSpec{File: "/x.pem", Address: "h:443"}, want: "cert: set file or address, not both"},
		{name: "address without port", spec: CertSpec{Address: "example.com"}, want: `cert.address: "example.com" is not host:port`},
		{name: "bad server name", spec: CertSpec{File: "/x.pem", ServerName: "a b"}, want: `cert.server_name: "a b" is not a host name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Spec{Name: "tls", Options: &tt.spec}.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// The kind is implied by the settings, and a second kind is refused.
	if got := (Spec{Name: "tls", Options: &CertSpec{File: "/x"}}).WithDefaults().Kind; got != KindCert {
		t.Errorf("implied kind = %q, want cert", got)
	}
	err := Spec{Name: "tls", TCP: &TCPSpec{Address: "h:1"}, Options: &CertSpec{File: "/x"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "only one kind per check, found tcp, cert") {
		t.Errorf("two kinds: Validate() = %v", err)
	}
}

// TestCert_Args decodes the cert arguments the way a config check block
// gives them.
func TestCert_Args(t *testing.T) {
	t.Parallel()
	k, ok := Lookup(KindCert)
	if !ok {
		t.Fatal("cert is not registered")
	}
	args := map[string]Arg{}
	for _, a := range k.Args() {
		args[a.Name] = a
	}
	if !args["cert"].Main || args["server_name"].Main || args["ca_file"].Main {
		t.Fatalf("args = %+v, want cert main and the others options", args)
	}
	// Paths resolve against the config's directory, as config does it.
	ctx := ArgContext{Path: func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join("/etc/tocsin", p)
	}}
	tests := []struct {
		value string
		want  CertSpec
	}{
		{value: "mail.example.com:465", want: CertSpec{Address: "mail.example.com:465", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
		{value: "[::1]:8443", want: CertSpec{Address: "[::1]:8443", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
		{value: "/etc/ssl/web.pem", want: CertSpec{File: "/etc/ssl/web.pem", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
		{value: "web.pem", want: CertSpec{File: "/etc/tocsin/web.pem", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
		{value: "./db:5432", want: CertSpec{File: "/etc/tocsin/db:5432", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
		{value: "host:https", want: CertSpec{File: "/etc/tocsin/host:https", ServerName: "mail", CAFile: "/etc/tocsin/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			var s Spec
			for _, step := range []struct {
				arg string
				v   cty.Value
			}{{"cert", cty.StringVal(tt.value)}, {"server_name", cty.StringVal("mail")}, {"ca_file", cty.StringVal("ca.pem")}} {
				if err := args[step.arg].Set(&s, step.v, ctx); err != nil {
					t.Fatalf("%s: %v", step.arg, err)
				}
			}
			if got := certSpec(s); got == nil || *got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			s.Name = "tls"
			if err := s.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}
