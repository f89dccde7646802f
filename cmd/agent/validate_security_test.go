package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_InsecurePeerLink: a peer link off this host that anyone
// could answer in the partner's place is an error for validate, naming
// the fix, unless the peer's insecure setting accepts it (a warning then).
func TestValidate_InsecurePeerLink(t *testing.T) {
	tests := []struct {
		name, peer string
		code       int
		want       string
	}{
		{name: "plain HTTP", peer: `url = "http://192.0.2.1:9870"`, code: exitError,
			want: "Error: Insecure peer link"},
		{name: "verification off", peer: "url = \"https://192.0.2.1:9870\"\n  tls_skip_verify = true", code: exitError,
			want: "Error: Insecure peer link"},
		{name: "plain HTTP accepted", peer: "url = \"http://192.0.2.1:9870\"\n  insecure = true", code: exitOK,
			want: "Warning: Insecure peer link accepted"},
		{name: "pinned", peer: "url = \"https://192.0.2.1:9870\"\n  fingerprint = \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"", code: exitOK},
		{name: "loopback", peer: `url = "http://127.0.0.1:9871"`, code: exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "agent {\n  data_dir = \"" + filepath.Join(dir, "data") + "\"\n}\npeer \"primary\" {\n  " + tt.peer + "\n}\n"
			if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, "validate", "-config", dir)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tt.code, r.stderr)
			}
			if tt.want != "" && !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
			if tt.want == "" && strings.Contains(r.stderr, "Insecure") {
				t.Fatalf("stderr:\n%s", r.stderr)
			}
			if tt.code == exitError && !strings.Contains(r.stderr, "tocsin identity") {
				t.Errorf("the error does not say how to pin the partner:\n%s", r.stderr)
			}
		})
	}
}

// TestValidate_PlainHTTPOnTheNetwork: insecure_plain_http on a network
// address is the operator's accepted risk: validate passes, with a
// warning that says what it means and how to fix it. On loopback, and on
// a network address without the setting (TLS by default), nothing is
// said.
func TestValidate_PlainHTTPOnTheNetwork(t *testing.T) {
	tests := []struct {
		name, agent string
		warned      bool
	}{
		{name: "network address", agent: "listen = \"0.0.0.0:9870\"\n  insecure_plain_http = true", warned: true},
		{name: "IPv6 network address", agent: "listen = \"[2001:db8::1]:9870\"\n  insecure_plain_http = true", warned: true},
		{name: "loopback", agent: "listen = \"127.0.0.1:9870\"\n  insecure_plain_http = true"},
		{name: "network address over TLS", agent: `listen = "0.0.0.0:9870"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "agent {\n  data_dir = \"" + filepath.Join(dir, "data") + "\"\n  " + tt.agent + "\n}\n"
			if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, "validate", "-config", dir)
			if r.code != exitOK {
				t.Fatalf("exit %d, want %d:\n%s", r.code, exitOK, r.stderr)
			}
			warned := strings.Contains(r.stderr, "Warning: Plain HTTP on the network")
			if warned != tt.warned {
				t.Fatalf("warned = %v, want %v:\n%s", warned, tt.warned, r.stderr)
			}
			if tt.warned && (!strings.Contains(r.stderr, "a.hcl:4") || !strings.Contains(r.stderr, "in the clear") ||
				!strings.Contains(r.stderr, "Remove the setting to serve TLS")) {
				t.Errorf("the warning lacks its place, its risk or its fix:\n%s", r.stderr)
			}
		})
	}
}
