package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// sendConfig writes a config whose transport "relay" talks to srv.
func sendConfig(t *testing.T, srv *testserver.Server, caFile, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Tocsin <tocsin@example.com>"
  config {
    host     = %q
    port     = %d
    security = "starttls"
    ca_file  = %q
    %s
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
`, srv.Host(), srv.Port(), caFile, extra)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tlsServer(t *testing.T, opts testserver.Options) (*testserver.Server, string) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS, err = ca.ServerTLSConfig(); err != nil {
		t.Fatal(err)
	}
	return testserver.StartT(t, opts), caFile
}

func TestTestSend_Delivers(t *testing.T) {
	withPlugins(t)
	srv, caFile := tlsServer(t, testserver.Options{Users: map[string]string{"tocsin": "pw"}})
	t.Setenv("TOCSIN_TEST_PASSWORD", "pw")
	path := sendConfig(t, srv, caFile, `username = "tocsin"
    password = env("TOCSIN_TEST_PASSWORD")`)
	r := runCLI(t, "test-send", "-config", path, "-transport", "relay", "-to", "me@example.com", "-subject", "hello from the test")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Sent ") || !strings.Contains(r.stdout, "Server: 250") {
		t.Errorf("stdout = %q, want the receipt", r.stdout)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].To[0] != "me@example.com" || !strings.Contains(string(got[0].Data), "hello from the test") || !got[0].TLS || got[0].User != "tocsin" {
		t.Errorf("received %+v", got)
	}
}

func TestTestSend_ErrorWithRemedy(t *testing.T) {
	withPlugins(t)
	const secret = "PLANTED-wrong-password-5521"
	tests := []struct {
		name  string
		opts  testserver.Options
		extra string
		want  []string
	}{
		{
			name:  "wrong password",
			opts:  testserver.Options{Users: map[string]string{"tocsin": "right"}},
			extra: `username = "tocsin"` + "\n" + `password = "` + secret + `"`,
			want:  []string{"permanent error 535", "Remedy: The server rejected the login", "permanent: retrying will not help"},
		},
		{
			name: "server busy",
			opts: testserver.Options{Fault: func(s testserver.Stage, _, _ int) *smtp.SMTPError {
				if s == testserver.StageMail {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
				}
				return nil
			}},
			want: []string{"temporary error 451 4.3.0", "the agent would retry it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, caFile := tlsServer(t, tt.opts)
			path := sendConfig(t, srv, caFile, tt.extra)
			r := runCLI(t, "test-send", "-config", path, "-transport", "relay", "-to", "me@example.com")
			if r.code != exitError {
				t.Fatalf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			sdktest.NoSecrets(t, []string{secret}, []string{"stdout", "stderr"}, r.stdout, r.stderr)
		})
	}
}

func TestTestSend_UnknownTransport(t *testing.T) {
	withPlugins(t)
	r := runCLI(t, "test-send", "-config", "testdata/valid", "-transport", "nope", "-to", "me@example.com")
	if r.code != exitError || !strings.Contains(r.stderr, `no transport "nope"`) || !strings.Contains(r.stderr, "relay") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestPlugins(t *testing.T) {
	dir := withPlugins(t)
	r := runCLI(t, "plugins", "-plugin-dir", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{"alertmanager", "gmail", "graph", "smtp-basic", "smtp-oauth-google", "smtp-oauth-ms", "webhook"}
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("stdout = %q", r.stdout)
	}
	for i, name := range want {
		f := strings.Fields(lines[i+1])
		if f[0] != name || f[2] != "1" || len(f[4]) != 64 {
			t.Errorf("row = %q, want %s, version, protocol 1, sdk, sha256", lines[i+1], name)
		}
	}
	r = runCLI(t, "plugins", "-plugin-dir", t.TempDir())
	if r.code != exitError || !strings.Contains(r.stderr, "No plugins") {
		t.Errorf("empty dir: exit %d %q", r.code, r.stderr)
	}
}
