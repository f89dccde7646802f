package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/tocsin-dev/tocsin/core/oauthlogin"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const (
	msTenant   = "contoso.example"
	msClientID = "3f9c2a5e-1b7d-4c8e-a6f0-2d4b8e1c7a93"
	msMailbox  = "alerts@contoso.example"
)

// delegatedSetup is a Microsoft 365 tenant in miniature: the identity
// platform with a public app for delegated SMTP.Send, and an SMTP server
// that accepts XOAUTH2 only with a token of the signed-in mailbox.
type delegatedSetup struct {
	ca      *testserver.CA
	id      *testserver.MicrosoftIdentity
	smtp    *testserver.Server
	config  string // the config file
	dataDir string
}

func newDelegatedSetup(t *testing.T) *delegatedSetup {
	t.Helper()
	withPlugins(t)
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	id := testserver.StartMicrosoftIdentityT(t, ca, testserver.MicrosoftOptions{})
	if err := id.AddApp(testserver.MicrosoftApp{
		Tenant: msTenant, ClientID: msClientID, Name: "Tocsin alerts", Public: true,
		DelegatedScopes: []string{testserver.MicrosoftScopeSMTPSend},
		RedirectURIs:    []string{"http://localhost"},
		User:            msMailbox,
	}); err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	validate := func(user, token string) error {
		c, err := id.Validate(token)
		if err != nil {
			return err
		}
		if !strings.EqualFold(c.User, user) {
			return fmt.Errorf("token of %q used for %q", c.User, user)
		}
		return nil
	}
	srv := testserver.StartT(t, testserver.Options{
		TLS:        tlsConfig,
		Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{testserver.MechXOAUTH2: testserver.XOAUTH2(validate, testserver.StyleMicrosoft)},
	})
	dir := t.TempDir()
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
}

transport "m365" {
  plugin = "smtp-oauth-ms"
  from   = "Alerts <%s>"
  config {
    mode      = "delegated"
    tenant_id = %q
    client_id = %q
    authority = %q
    host      = %q
    port      = %d
    security  = "starttls"
    ca_file   = %q
  }
}

contact "ops" {
  email = ["ops@contoso.example"]
  via   = [transport.m365]
}
`, msMailbox, msTenant, msClientID, id.URL(), srv.Host(), srv.Port(), caFile)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &delegatedSetup{ca: ca, id: id, smtp: srv, config: path, dataDir: filepath.Join(dir, "data")}
}

// login runs tocsin oauth login with extra flags; operate plays the
// operator with each line the command prints.
func (s *delegatedSetup) login(t *testing.T, operate func(line string), flags ...string) cliResult {
	t.Helper()
	pr, pw := io.Pipe()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"oauth", "login", "-config", s.config, "-transport", "m365", "-timeout", "1m"}, flags...)
		code := run(args, pw, &errb)
		_ = pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		operate(sc.Text())
	}
	select {
	case code := <-done:
		return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
	case <-time.After(90 * time.Second):
		t.Fatal("oauth login did not finish")
		return cliResult{}
	}
}

// stored opens the token store the way the agent does and returns the
// entry of m365.
func (s *delegatedSetup) stored(t *testing.T) tokenstore.Entry {
	t.Helper()
	st, err := tokenstore.OpenKeySource(filepath.Join(s.dataDir, "tokens"), tokenstore.KeySource{File: filepath.Join(s.dataDir, "token.key")})
	if err != nil {
		t.Fatal(err)
	}
	e, ok, err := st.Get("m365")
	if err != nil || !ok {
		t.Fatalf("stored token: %v, %v", ok, err)
	}
	return e
}

var authURLLine = regexp.MustCompile(`^\s+(https://\S+/authorize\?\S+)$`)

func TestOAuthLogin_BrowserFlowThenSendAcrossRestarts(t *testing.T) {
	s := newDelegatedSetup(t)
	browser, err := oauthlogin.HTTPClient(s.ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	r := s.login(t, func(line string) {
		if m := authURLLine.FindStringSubmatch(line); m != nil {
			// The operator opens the URL; the stand-in consents and
			// sends the browser back to the login's listener.
			resp, err := browser.Get(m[1])
			if err != nil {
				t.Errorf("browser: %v", err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("redirect listener answered %s", resp.Status)
			}
		}
	})
	if r.code != exitOK || !strings.Contains(r.stdout, `Transport "m365" works with the new token`) {
		t.Fatalf("oauth login: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// The token file is 0600 and encrypted.
	file := filepath.Join(s.dataDir, "tokens", "m365.token")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	e := s.stored(t)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if e.RefreshToken == "" || bytes.Contains(raw, []byte(e.RefreshToken)) {
		t.Fatal("the token file holds the refresh token in plain text (or none at all)")
	}
	if e.Account != msMailbox {
		t.Errorf("stored account %q, want %q", e.Account, msMailbox)
	}

	// Each test-send starts a new plugin process that reads the store,
	// as an agent restart does. The stand-in honours a refresh token once:
	// every send works only if the rotated token of the one before was
	// stored.
	before := e.RefreshToken
	for i := range 2 {
		r := runCLI(t, "test-send", "-config", s.config, "-transport", "m365", "-to", "ops@contoso.example")
		if r.code != exitOK {
			t.Fatalf("test-send %d after login: exit %d\n%s%s", i+1, r.code, r.stdout, r.stderr)
		}
		after := s.stored(t)
		if after.RefreshToken == before || after.RefreshedAt.IsZero() {
			t.Fatalf("test-send %d: the rotated refresh token did not replace the old one (refreshed at %v)", i+1, after.RefreshedAt)
		}
		before = after.RefreshToken
	}
	msgs, err := s.smtp.Wait(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !m.TLS || m.User != msMailbox {
			t.Errorf("message sent as %q (TLS %v), want %q over TLS", m.User, m.TLS, msMailbox)
		}
	}

	// oauth status shows the login, never the token.
	r = runCLI(t, "oauth", "status", "-config", s.config)
	if r.code != exitOK || !regexp.MustCompile(`m365\s+smtp-oauth-ms\s+stored\s+`+regexp.QuoteMeta(msMailbox)).MatchString(r.stdout) {
		t.Errorf("oauth status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, before) {
		t.Error("oauth status printed the refresh token")
	}
}

func TestOAuthLogin_DeviceFlow(t *testing.T) {
	s := newDelegatedSetup(t)
	codeLine := regexp.MustCompile(`enter the code (\S+)$`)
	r := s.login(t, func(line string) {
		if m := codeLine.FindStringSubmatch(line); m != nil {
			if err := s.id.Approve(m[1]); err != nil {
				t.Errorf("approve %s: %v", m[1], err)
			}
		}
	}, "-device")
	if r.code != exitOK || !strings.Contains(r.stdout, "works with the new token") {
		t.Fatalf("oauth login -device: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if e := s.stored(t); e.RefreshToken == "" {
		t.Error("no refresh token stored")
	}
}

func TestOAuthLogin_TransportWithoutLogin(t *testing.T) {
	srv, caFile := tlsServer(t, testserver.Options{})
	withPlugins(t)
	r := runCLI(t, "oauth", "login", "-config", sendConfig(t, srv, caFile, `auth = "none"`), "-transport", "relay")
	if r.code != exitError || !strings.Contains(r.stderr, "has no sign-in") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
