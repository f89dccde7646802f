package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// securityFixture is a directory of the files the security settings
// name: token files (good, too open, too short, empty), a listener
// identity and a client CA.
type securityFixture struct {
	dir         string
	fingerprint string // the identity's, as identity.Fingerprint prints it
}

const fixtureToken = "fixture-token-0123456789abcdef"

func newSecurityFixture(t *testing.T) securityFixture {
	t.Helper()
	dir := t.TempDir()
	for name, f := range map[string]struct {
		data string
		mode os.FileMode
	}{
		"good.token":  {fixtureToken + "\n", 0o600},
		"open.token":  {fixtureToken + "\n", 0o644},
		"short.token": {"abc\n", 0o600},
		"empty.token": {"", 0o600},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	// The listener's own certificate stands in for a client CA file.
	cert, err := os.ReadFile(id.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return securityFixture{dir: dir, fingerprint: id.Fingerprint()}
}

// src expands $DIR (the fixture's directory) and $FP (its fingerprint).
func (f securityFixture) src(s string) string {
	return strings.NewReplacer("$DIR", f.dir, "$FP", f.fingerprint).Replace(s)
}

// summaries lists each diagnostic as "severity: summary".
func summaries(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		out = append(out, sev+": "+d.Summary)
	}
	return out
}

// oneLineBlock is a credential block written on one line.
var oneLineBlock = regexp.MustCompile(`(?m)^(credential "[^"]*") \{ (.*) \}$`)

// nextArgument is the start of an argument after the first one.
var nextArgument = regexp.MustCompile(`\s+(\w+ = )`)

// oneArgumentALine rewrites the one-line credential blocks of src with
// one argument a line, as HCL wants them.
func oneArgumentALine(src string) string {
	return oneLineBlock.ReplaceAllStringFunc(src, func(b string) string {
		m := oneLineBlock.FindStringSubmatch(b)
		return m[1] + " {\n  " + nextArgument.ReplaceAllString(m[2], "\n  $1") + "\n}"
	})
}

// The agent blocks of the table below.
const (
	loopbackAgent = "agent {\n  data_dir = \"data\"\n  listen = \"127.0.0.1:9870\"\n}\n"
	networkAgent  = "agent {\n  data_dir = \"data\"\n  listen = \"0.0.0.0:9870\"\n}\n"
)

// TestLoad_Credentials: each credential block is decoded into its way in,
// or refused with an error at the block that says what to set.
func TestLoad_Credentials(t *testing.T) {
	fx := newSecurityFixture(t)
	sum := sha256.Sum256([]byte(fixtureToken))
	hash := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		src  string
		env  map[string]string
		// want lists the diagnostics as "severity: summary"; detail is
		// a part of the first one's detail.
		want   []string
		detail string
		// check is run on a configuration loaded without errors.
		check func(t *testing.T, got []*Credential)
	}{
		{
			name: "token file",
			src:  `credential "prom" { role = "read" token_file = "$DIR/good.token" }`,
			check: func(t *testing.T, got []*Credential) {
				if c := got[0]; c.Name != "prom" || c.Role != apiauth.RoleRead || c.TokenFile != filepath.Join(fx.dir, "good.token") {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "token file relative to the config file",
			src:  `credential "prom" { role = "read" token_file = "rel.token" }`,
			// The config's directory holds no rel.token: the error names
			// the path made absolute there.
			want:   []string{"error: Unusable token file"},
			detail: string(filepath.Separator) + "rel.token",
		},
		{
			name:   "token file readable by others",
			src:    `credential "prom" { role = "read" token_file = "$DIR/open.token" }`,
			want:   []string{"error: Unusable token file"},
			detail: "chmod 600",
		},
		{
			name:   "token file missing",
			src:    `credential "prom" { role = "read" token_file = "$DIR/absent.token" }`,
			want:   []string{"error: Unusable token file"},
			detail: "no such file",
		},
		{
			name:   "token file empty",
			src:    `credential "prom" { role = "read" token_file = "$DIR/empty.token" }`,
			want:   []string{"error: Unusable token file"},
			detail: "openssl rand -hex 32",
		},
		{
			name: "token file too short for the agent",
			src:  `credential "prom" { role = "read" token_file = "$DIR/short.token" }`,
			// The agent would refuse it (apiauth.NewToken): validate
			// says so, with how to make a good one.
			want:   []string{"error: Unusable token file"},
			detail: "openssl rand -hex 32",
		},
		{
			name: "token env",
			src:  `credential "partner" { role = "peer" token_env = "PARTNER_TOKEN" }`,
			env:  map[string]string{"PARTNER_TOKEN": fixtureToken},
			check: func(t *testing.T, got []*Credential) {
				if c := got[0]; c.Role != apiauth.RolePeer || c.TokenEnv != "PARTNER_TOKEN" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name:   "token env not set",
			src:    `credential "partner" { role = "peer" token_env = "PARTNER_TOKEN" }`,
			want:   []string{"error: Token variable not set"},
			detail: "PARTNER_TOKEN",
		},
		{
			name: "token env empty",
			src:  `credential "partner" { role = "peer" token_env = "PARTNER_TOKEN" }`,
			env:  map[string]string{"PARTNER_TOKEN": ""},
			want: []string{"error: Token variable not set"},
		},
		{
			name:   "token env too short for the agent",
			src:    `credential "partner" { role = "peer" token_env = "PARTNER_TOKEN" }`,
			env:    map[string]string{"PARTNER_TOKEN": "abc"},
			want:   []string{"error: Unusable token variable"},
			detail: "openssl rand -hex 32",
		},
		{
			name: "token env not a name",
			src:  `credential "partner" { role = "peer" token_env = "1-BAD" }`,
			want: []string{"error: Invalid environment variable name"},
		},
		{
			name: "token hash, upper case",
			src:  `credential "ops" { role = "admin" token_sha256 = "` + strings.ToUpper(hash) + `" }`,
			check: func(t *testing.T, got []*Credential) {
				if c := got[0]; c.Role != apiauth.RoleAdmin || c.TokenSHA256 != hash {
					t.Errorf("got %+v; want the hash in lower case", c)
				}
			},
		},
		{
			name:   "token hash not 64 hex digits",
			src:    `credential "ops" { role = "admin" token_sha256 = "abc123" }`,
			want:   []string{"error: Invalid token hash"},
			detail: "sha256sum",
		},
		{
			name: "fingerprint",
			src:  `credential "ops-laptop" { role = "admin" fingerprint = "` + strings.ToUpper(strings.TrimPrefix(fx.fingerprint, "sha256:")) + `" }`,
			check: func(t *testing.T, got []*Credential) {
				if c := got[0]; c.Fingerprint != fx.fingerprint {
					t.Errorf("fingerprint %q, want it as identity prints it, %q", c.Fingerprint, fx.fingerprint)
				}
			},
		},
		{
			name:   "fingerprint not one",
			src:    `credential "ops-laptop" { role = "admin" fingerprint = "sha256:nothex" }`,
			want:   []string{"error: Invalid fingerprint"},
			detail: "tocsin identity",
		},
		{
			name: "verified client with a client CA",
			src: `agent {
  data_dir = "data"
  tls_client_ca_file = "$DIR/ca.pem"
}
credential "ops-ca" { role = "admin" verified_client = true }`,
			check: func(t *testing.T, got []*Credential) {
				if !got[0].VerifiedClient {
					t.Errorf("got %+v", got[0])
				}
			},
		},
		{
			name:   "verified client without a client CA",
			src:    loopbackAgent + `credential "ops-ca" { role = "admin" verified_client = true }`,
			want:   []string{"error: No client CA"},
			detail: "tls_client_ca_file",
		},
		{
			name: "verified client false, alone",
			src:  `credential "nobody" { role = "admin" verified_client = false }`,
			// It would grant nothing, silently (the agent has no way in
			// for it).
			want:   []string{"error: Invalid credential"},
			detail: "verified_client = true",
		},
		{
			name:   "verified client null, alone",
			src:    `credential "nobody" { role = "admin" verified_client = null }`,
			want:   []string{"error: Invalid credential"},
			detail: "lets no one in",
		},
		{
			name:   "reserved name",
			src:    `credential "local" { role = "admin" token_file = "$DIR/good.token" }`,
			want:   []string{"error: Reserved credential name"},
			detail: apiauth.LocalTokenName,
		},
		{
			name:   "no way in",
			src:    `credential "prom" { role = "read" }`,
			want:   []string{"error: Invalid credential"},
			detail: "sets none of them; set exactly one of token_file, token_env, token_sha256, fingerprint, verified_client",
		},
		{
			name:   "two ways in",
			src:    `credential "prom" { role = "read" token_file = "$DIR/good.token" token_env = "PROM_TOKEN" }`,
			env:    map[string]string{"PROM_TOKEN": fixtureToken},
			want:   []string{"error: Invalid credential"},
			detail: "sets token_file and token_env",
		},
		{
			name:   "invalid role",
			src:    `credential "prom" { role = "reader" token_file = "$DIR/good.token" }`,
			want:   []string{"error: Invalid role"},
			detail: "read for monitoring",
		},
		{
			name:   "role in capitals",
			src:    `credential "prom" { role = "Admin" token_file = "$DIR/good.token" }`,
			want:   []string{"error: Invalid role"},
			detail: "not a role",
		},
		{
			name: "no role",
			src:  `credential "prom" { token_file = "$DIR/good.token" }`,
			want: []string{"error: Missing required argument"},
		},
		{
			name: "unknown argument",
			src:  `credential "prom" { role = "read" token = "in-the-clear-0123456789" }`,
			// No way in, the argument unknown, and a token written in
			// the file, which is warned about as a secret.
			want:   []string{"error: Invalid credential", "error: Unsupported argument", "warning: Secret written in the configuration"},
			detail: "none of them",
		},
		{
			name: "the same name twice",
			src: `credential "prom" { role = "read" token_file = "$DIR/good.token" }
credential "prom" { role = "admin" token_sha256 = "` + hash + `" }`,
			want:   []string{"error: Duplicate credential"},
			detail: "already declared",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := oneArgumentALine(fx.src(tt.src))
			if !strings.HasPrefix(src, "agent") {
				src = loopbackAgent + src
			}
			cfg, diags := loadWith(writeConfig(t, src), tt.env)
			sameLines(t, "diagnostics", summaries(diags), tt.want)
			if len(tt.want) > 0 {
				if len(diags) > 0 && !strings.Contains(diags[0].Detail, tt.detail) {
					t.Errorf("detail %q does not say %q", diags[0].Detail, tt.detail)
				}
				if len(diags) > 0 && diags[0].Subject == nil {
					t.Error("the diagnostic has no place in the file")
				}
				return
			}
			if len(cfg.Credentials) != 1 {
				t.Fatalf("%d credentials, want 1", len(cfg.Credentials))
			}
			tt.check(t, cfg.Credentials)
		})
	}
}

// TestLoad_ListenerSecurity: the TLS settings of the agent block, and
// whether the agent serves TLS (Agent.ServesTLS), by listen address.
func TestLoad_ListenerSecurity(t *testing.T) {
	fx := newSecurityFixture(t)
	tests := []struct {
		name   string
		agent  string // the agent block's arguments besides data_dir
		want   []string
		detail string
		tls    bool // ServesTLS, when loaded without errors
	}{
		{name: "default listen", agent: ``, tls: false},
		{name: "loopback", agent: `listen = "127.0.0.1:9870"`, tls: false},
		{name: "localhost", agent: `listen = "localhost:9870"`, tls: false},
		{name: "another loopback address", agent: `listen = "127.0.0.2:9870"`, tls: false},
		{name: "IPv6 loopback", agent: `listen = "[::1]:9870"`, tls: false},
		{name: "every address", agent: `listen = "0.0.0.0:9870"`, tls: true},
		{name: "no host", agent: `listen = ":9870"`, tls: true},
		{name: "a network address", agent: `listen = "192.0.2.1:9870"`, tls: true},
		{
			name:  "loopback with the operator's certificate",
			agent: "listen = \"127.0.0.1:9870\"\n  tls_cert_file = \"$DIR/listener/tls/agent.crt\"\n  tls_key_file = \"$DIR/listener/tls/agent.key\"",
			tls:   true,
		},
		{
			name:   "certificate without key",
			agent:  "listen = \"0.0.0.0:9870\"\n  tls_cert_file = \"$DIR/listener/tls/agent.crt\"",
			want:   []string{"error: Incomplete TLS settings"},
			detail: "set both",
		},
		{
			name:   "key without certificate",
			agent:  "listen = \"0.0.0.0:9870\"\n  tls_key_file = \"$DIR/listener/tls/agent.key\"",
			want:   []string{"error: Incomplete TLS settings"},
			detail: "data_dir/tls",
		},
		{
			name:   "empty certificate file name",
			agent:  "tls_cert_file = \"\"\n  tls_key_file = \"$DIR/listener/tls/agent.key\"",
			want:   []string{"error: Empty value", "error: Incomplete TLS settings"},
			detail: `"tls_cert_file" must not be empty`,
		},
		{
			name:   "plain HTTP on the network",
			agent:  "listen = \"0.0.0.0:9870\"\n  insecure_plain_http = true",
			want:   []string{"warning: Plain HTTP on the network"},
			detail: "Remove the setting",
			tls:    false,
		},
		{
			// The operator's certificate wins (Agent.ServesTLS): the
			// warning must not say plain HTTP is served.
			name:   "plain HTTP asked for, with the operator's certificate",
			agent:  "listen = \"0.0.0.0:9870\"\n  insecure_plain_http = true\n  tls_cert_file = \"$DIR/listener/tls/agent.crt\"\n  tls_key_file = \"$DIR/listener/tls/agent.key\"",
			want:   []string{"warning: insecure_plain_http has no effect"},
			detail: "serves TLS on 0.0.0.0:9870 with tls_cert_file",
			tls:    true,
		},
		{
			name:  "plain HTTP on loopback: nothing to warn about",
			agent: "listen = \"127.0.0.1:9870\"\n  insecure_plain_http = true",
			tls:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(fx.dir, "listener", "tls", "agent.crt")); err != nil {
				t.Fatalf("the fixture's identity is not where the cases say: %v", err)
			}
			src := fx.src(fmt.Sprintf("agent {\n  data_dir = \"data\"\n  %s\n}\n", tt.agent))
			cfg, diags := loadWith(writeConfig(t, src), nil)
			sameLines(t, "diagnostics", summaries(diags), tt.want)
			if len(diags) > 0 && !strings.Contains(diags[0].Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", diags[0].Detail, tt.detail)
			}
			if diags.HasErrors() {
				return
			}
			if cfg.Agent.ServesTLS() != tt.tls {
				t.Errorf("ServesTLS() = %v, want %v", cfg.Agent.ServesTLS(), tt.tls)
			}
			if tt.want != nil && len(cfg.Insecure) != 0 {
				t.Errorf("an accepted risk is in cfg.Insecure (which validate makes errors): %v", cfg.Insecure)
			}
		})
	}
}

// TestLoad_PeerSecurity: a peer block's fingerprint, token_file and
// insecure, and the risks of its link: a risk not accepted is in
// cfg.Insecure (validate's errors), an accepted one a plain warning.
func TestLoad_PeerSecurity(t *testing.T) {
	fx := newSecurityFixture(t)
	tests := []struct {
		name     string
		peer     string // the peer block's arguments
		want     []string
		detail   string
		insecure bool // whether cfg.Insecure holds the warning
		check    func(t *testing.T, cfg *Config)
	}{
		{
			name: "https with a pin and a token",
			peer: "url = \"https://192.0.2.1:9870\"\n  fingerprint = \"$FP\"\n  token_file = \"$DIR/good.token\"",
			check: func(t *testing.T, cfg *Config) {
				ps := cfg.Peers[0].Spec.Peer
				if ps.Fingerprint != fx.fingerprint || ps.TokenFile != filepath.Join(fx.dir, "good.token") || ps.Insecure {
					t.Errorf("got %+v", ps)
				}
				// The agent presents its own identity: the generated
				// one, in data_dir.
				if ps.ClientCertFile != "" || ps.IdentityDir != cfg.Agent.DataDir {
					t.Errorf("the peer presents %q / %q, want the identity in %s", ps.ClientCertFile, ps.IdentityDir, cfg.Agent.DataDir)
				}
			},
		},
		{
			name: "plain HTTP on loopback",
			peer: `url = "http://127.0.0.1:9871"`,
		},
		{
			name:     "plain HTTP to the partner",
			peer:     `url = "http://192.0.2.1:9870"`,
			want:     []string{"warning: Insecure peer link"},
			detail:   "use https:// with the partner's fingerprint",
			insecure: true,
		},
		{
			name:   "plain HTTP to the partner, risk accepted",
			peer:   "url = \"http://192.0.2.1:9870\"\n  insecure = true",
			want:   []string{"warning: Insecure peer link accepted"},
			detail: "Pin the partner with fingerprint",
		},
		{
			name:     "verification off",
			peer:     "url = \"https://192.0.2.1:9870\"\n  tls_skip_verify = true",
			want:     []string{"warning: Insecure peer link"},
			detail:   "certificate verification is off",
			insecure: true,
		},
		{
			name:   "fingerprint not one",
			peer:   "url = \"https://192.0.2.1:9870\"\n  fingerprint = \"aa:bb\"",
			want:   []string{"error: Invalid fingerprint"},
			detail: "on the partner",
		},
		{
			name:   "token file readable by others",
			peer:   "url = \"https://192.0.2.1:9870\"\n  fingerprint = \"$FP\"\n  token_file = \"$DIR/open.token\"",
			want:   []string{"error: Unusable token file"},
			detail: "chmod 600",
		},
		{
			name:   "token file too short for the partner",
			peer:   "url = \"https://192.0.2.1:9870\"\n  fingerprint = \"$FP\"\n  token_file = \"$DIR/short.token\"",
			want:   []string{"error: Unusable token file"},
			detail: "shorter than 16",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fx.src(networkAgent + "peer \"partner\" {\n  " + tt.peer + "\n}\n")
			cfg, diags := loadWith(writeConfig(t, src), nil)
			sameLines(t, "diagnostics", summaries(diags), tt.want)
			if len(diags) > 0 && !strings.Contains(diags[0].Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", diags[0].Detail, tt.detail)
			}
			if diags.HasErrors() {
				return
			}
			if got := len(cfg.Insecure) > 0; got != tt.insecure {
				t.Errorf("cfg.Insecure = %v, want a risk %v", summaries(cfg.Insecure), tt.insecure)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}
