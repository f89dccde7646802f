package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/core/identity"
)

// partnerFingerprint is what `openssl x509 -noout -fingerprint -sha256 -in
// testdata/identity/partner.crt` prints, in the form tocsin prints it.
const partnerFingerprint = "sha256:7c3bad22c88eff4b66f4906718acdb7256f7b3f723cba8503a5c25776fc79b58"

var fingerprintLine = regexp.MustCompile(`(?m)^Fingerprint:  (sha256:[0-9a-f]{64})$`)

// printedFingerprint returns the fingerprint tocsin identity printed.
func printedFingerprint(t *testing.T, r cliResult) string {
	t.Helper()
	m := fingerprintLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no fingerprint line in the output:\n%s\nstderr: %s", r.stdout, r.stderr)
	}
	return m[1]
}

// certFileFingerprint computes the fingerprint of the PEM certificate
// file name without core/identity: the SHA-256 of its DER.
func certFileFingerprint(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", name)
	}
	sum := sha256.Sum256(b.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestIdentity_generated: the first run generates the identity in
// data_dir/tls and says so; the next prints the same fingerprint, that of
// the certificate file, without creating anything.
func TestIdentity_generated(t *testing.T) {
	cfg, ob := outboxConfig(t, "0.0.0.0:9870")
	certFile := filepath.Join(filepath.Dir(ob), identity.Dir, identity.CertName)

	first := runCLI(t, "identity", "-config", cfg)
	wantOutput(t, first, exitOK, []string{"Certificate:  " + certFile + "\n", "Created:      just now", "Pin it on the partner: peer_fingerprint = \"sha256:"}, nil)
	fp := printedFingerprint(t, first)
	if want := certFileFingerprint(t, certFile); fp != want {
		t.Errorf("printed %s; the certificate file's fingerprint is %s", fp, want)
	}
	if !strings.Contains(first.stdout, fmt.Sprintf("peer_fingerprint = %q in its library block, or fingerprint in its peer block", fp)) {
		t.Errorf("the hint does not hold the fingerprint:\n%s", first.stdout)
	}
	st, err := os.Stat(filepath.Join(filepath.Dir(certFile), identity.KeyName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("generated key: %v, %v; want mode 0600", st, err)
	}

	second := runCLI(t, "identity", "-config", cfg)
	wantOutput(t, second, exitOK, []string{"Certificate:  " + certFile + "\n"}, nil)
	if got := printedFingerprint(t, second); got != fp {
		t.Errorf("second run printed %s, first %s", got, fp)
	}
	if strings.Contains(second.stdout, "Created") {
		t.Errorf("second run says it created the identity:\n%s", second.stdout)
	}

	// -cert on the generated certificate agrees.
	byFile := runCLI(t, "identity", "-cert", certFile)
	wantOutput(t, byFile, exitOK, []string{"Certificate:  " + certFile + "\n", "To trust it, pin it"}, nil)
	if got := printedFingerprint(t, byFile); got != fp {
		t.Errorf("-cert printed %s, the identity %s", got, fp)
	}
}

// TestIdentity_operatorFiles: with tls_cert_file and tls_key_file, the
// command prints their fingerprint and generates nothing.
func TestIdentity_operatorFiles(t *testing.T) {
	id, err := identity.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, keyMode os.FileMode) (cfg, data string) {
		cfg, ob := outboxConfig(t, "127.0.0.1:9870")
		src, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		key := filepath.Join(t.TempDir(), "op.key")
		keyPEM, err := os.ReadFile(id.KeyFile())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, keyPEM, keyMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(key, keyMode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		src = []byte(strings.Replace(string(src), "agent {", fmt.Sprintf("agent {\n  tls_cert_file = %q\n  tls_key_file = %q", id.CertFile(), key), 1))
		if err := os.WriteFile(cfg, src, 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg, filepath.Dir(ob)
	}

	t.Run("readable only by the owner", func(t *testing.T) {
		cfg, data := write(t, 0o600)
		r := runCLI(t, "identity", "-config", cfg)
		wantOutput(t, r, exitOK, []string{"Certificate:  " + id.CertFile() + "\n"}, nil)
		if got := printedFingerprint(t, r); got != id.Fingerprint() {
			t.Errorf("printed %s, want %s", got, id.Fingerprint())
		}
		if strings.Contains(r.stdout, "Created") {
			t.Errorf("says it created the operator's identity:\n%s", r.stdout)
		}
		if _, err := os.Stat(filepath.Join(data, identity.Dir)); !os.IsNotExist(err) {
			t.Errorf("data_dir/tls: %v; want nothing generated", err)
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		cfg, _ := write(t, 0o644)
		wantOutput(t, runCLI(t, "identity", "-config", cfg), exitError, nil, []string{"chmod 600"})
	})
}

func TestIdentity_args(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(notPEM, []byte("agent {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	partner := filepath.Join("testdata", "identity", "partner.crt")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "a partner's certificate", args: []string{"-cert", partner}, code: exitOK,
			stdout: []string{"Fingerprint:  " + partnerFingerprint + "\n", "Certificate:  " + partner + "\n", `peer_fingerprint = "` + partnerFingerprint + `"`}},
		{name: "no such file", args: []string{"-cert", filepath.Join(t.TempDir(), "nope.crt")}, code: exitError,
			stderr: []string{"Error: read certificate:", "no such file"}},
		{name: "not PEM", args: []string{"-cert", notPEM}, code: exitError,
			stderr: []string{"no PEM CERTIFICATE block", "-----BEGIN CERTIFICATE-----"}},
		{name: "empty -cert", args: []string{"-cert", ""}, code: exitUsage,
			stderr: []string{"-cert needs the path", "Usage: tocsin identity"}},
		{name: "-cert and -config", args: []string{"-cert", partner, "-config", notPEM}, code: exitUsage,
			stderr: []string{"give -cert or -config, not both", "Usage: tocsin identity"}},
		{name: "stray argument", args: []string{partner}, code: exitUsage,
			stderr: []string{"unexpected argument", "Usage: tocsin identity"}},
		{name: "bad config", args: []string{"-config", filepath.Join(t.TempDir(), "none.hcl")}, code: exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"identity"}, tt.args...)...)
			wantOutput(t, r, tt.code, tt.stdout, tt.stderr)
			if tt.code != exitOK && r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
}
