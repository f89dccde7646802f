package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/oauthlogin"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// seen records every access token the stand-in servers were shown.
type seen struct {
	mu     sync.Mutex
	tokens []string
}

func (s *seen) add(tok string) {
	s.mu.Lock()
	s.tokens = append(s.tokens, tok)
	s.mu.Unlock()
}

func (s *seen) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// approver plays the operator of a device-flow login: it approves each
// user code the login prints.
type approver struct {
	id *testserver.MicrosoftIdentity
}

var userCode = regexp.MustCompile(`enter the code (\S+)`)

func (a approver) Write(p []byte) (int, error) {
	if m := userCode.FindSubmatch(p); m != nil {
		if err := a.id.Approve(string(m[1])); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// TestNoSecretLeaks plants every kind of secret the OAuth transports hold
// (client secrets, a wrong one, a refresh token and its rotations, the
// access tokens the providers issued, a service account's private key)
// and the API's (tokens of the read, peer and admin roles as a file, an
// environment variable and a hash, the token the agent presents to its
// peer, a wrong token, data_dir's local admin token, the listener's TLS
// key), runs validate, test-send, the agent at trace level with its API
// called by each credential, identity, outbox list and oauth status, and
// greps everything they print.
func TestNoSecretLeaks(t *testing.T) {
	withPlugins(t)
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	var tokens seen

	// Microsoft: a confidential app for SMTP and Graph, a public one for
	// the delegated login.
	const (
		tenant      = "contoso.example"
		appID       = "11111111-2222-4333-8444-555555555555"
		pubID       = "66666666-7777-4888-8999-aaaaaaaaaaaa"
		appSecret   = "Qx8~planted-client-secret-0123456789abcdef"
		wrongSecret = "Zz9~planted-wrong-secret-fedcba9876543210"
		mailbox     = "alerts@contoso.example"
		gUser       = "alerts@example.com"
	)
	id := testserver.StartMicrosoftIdentityT(t, ca, testserver.MicrosoftOptions{})
	for _, app := range []testserver.MicrosoftApp{
		{Tenant: tenant, ClientID: appID, Name: "Tocsin", Secret: appSecret, AppScopes: []string{testserver.MicrosoftScopeSMTPApp, "https://graph.microsoft.com/.default"}},
		{Tenant: tenant, ClientID: pubID, Name: "Tocsin login", Public: true, DelegatedScopes: []string{testserver.MicrosoftScopeSMTPSend}, RedirectURIs: []string{"http://localhost"}, User: mailbox},
	} {
		if err := id.AddApp(app); err != nil {
			t.Fatal(err)
		}
	}
	msSMTP := testserver.StartT(t, testserver.Options{TLS: tlsConfig, Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{
		testserver.MechXOAUTH2: testserver.XOAUTH2(func(user, tok string) error {
			tokens.add(tok)
			c, err := id.Validate(tok)
			if err != nil {
				return err
			}
			if c.User != "" && !strings.EqualFold(c.User, user) {
				return fmt.Errorf("token of %s used for %s", c.User, user)
			}
			return nil
		}, testserver.StyleMicrosoft),
	}})
	graph := testserver.StartGraphT(t, ca, testserver.GraphOptions{Validate: func(tok string) ([]string, error) {
		tokens.add(tok)
		if _, err := id.Validate(tok); err != nil {
			return nil, err
		}
		return []string{testserver.GraphRoleMailSend}, nil
	}})

	// Google: a service account delegated for the user, for SMTP and the
	// Gmail API.
	g := testserver.StartGoogleOAuthT(t, ca, testserver.GoogleOAuthOptions{})
	saKey, err := g.NewServiceAccount("tocsin", nil, gUser)
	if err != nil {
		t.Fatal(err)
	}
	saFile := filepath.Join(dir, "sa.json")
	if err := os.WriteFile(saFile, saKey, 0o600); err != nil {
		t.Fatal(err)
	}
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(saKey, &sa); err != nil {
		t.Fatal(err)
	}
	gSMTP := testserver.StartT(t, testserver.Options{TLS: tlsConfig, Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{
		testserver.MechXOAUTH2: testserver.XOAUTH2(func(user, tok string) error {
			tokens.add(tok)
			c, err := g.Validate(tok)
			if err != nil {
				return err
			}
			if !strings.EqualFold(c.Subject, user) {
				return fmt.Errorf("token of %s used for %s", c.Subject, user)
			}
			return nil
		}, testserver.StyleGoogle),
	}})
	gmailValidate := g.GmailValidator()
	gmail := testserver.StartGmailT(t, ca, testserver.GmailOptions{Validate: func(tok string) (string, []string, error) {
		tokens.add(tok)
		return gmailValidate(tok)
	}})

	// The API: TLS with the operator's key, a credential of each role by
	// each way a token comes in, and a peer (the agent itself) read with
	// a token.
	const (
		readToken  = "planted-read-token-R3adR3adR3ad0123456789"
		peerToken  = "planted-peer-token-P33rP33rP33r0123456789"
		adminToken = "planted-admin-token-AdM1nAdM1n0123456789"
		wrongToken = "planted-wrong-token-Wr0ngWr0ng0123456789"
	)
	listener, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(listener.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	readTokenFile, peerTokenFile := filepath.Join(dir, "read.token"), filepath.Join(dir, "peer.token")
	for file, tok := range map[string]string{readTokenFile: readToken, peerTokenFile: peerToken} {
		if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	adminSum := sha256.Sum256([]byte(adminToken))
	t.Setenv("TOCSIN_TEST_PEER_TOKEN", peerToken)

	listen := freePort(t)
	t.Setenv("TOCSIN_TEST_APP_SECRET", appSecret)
	t.Setenv("TOCSIN_TEST_WRONG_SECRET", wrongSecret)
	cfgText := fmt.Sprintf(`agent {
  node          = "node-a"
  plugin_dir    = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir      = "data"
  listen        = %[1]q
  log_level     = "trace"
  tls_cert_file = %[16]q
  tls_key_file  = %[17]q
}

credential "prometheus" {
  role       = "read"
  token_file = %[18]q
}
credential "partner" {
  role      = "peer"
  token_env = "TOCSIN_TEST_PEER_TOKEN"
}
credential "ops" {
  role         = "admin"
  token_sha256 = %[19]q
}

peer "self" {
  url         = "https://%[1]s"
  fingerprint = %[20]q
  token_file  = %[21]q
  every       = "1s"
}

transport "m365app" {
  plugin = "smtp-oauth-ms"
  from   = %[2]q
  config {
    tenant_id = %[3]q
    client_id = %[4]q
    client_secret = env("TOCSIN_TEST_APP_SECRET")
    authority = %[5]q
    host = %[6]q
    port = %[7]d
    ca_file = %[8]q
  }
}

transport "m365bad" {
  plugin = "smtp-oauth-ms"
  from   = %[2]q
  config {
    tenant_id = %[3]q
    client_id = %[4]q
    client_secret = env("TOCSIN_TEST_WRONG_SECRET")
    authority = %[5]q
    host = %[6]q
    port = %[7]d
    ca_file = %[8]q
  }
}

transport "m365del" {
  plugin = "smtp-oauth-ms"
  from   = %[2]q
  config {
    mode = "delegated"
    tenant_id = %[3]q
    client_id = %[9]q
    authority = %[5]q
    host = %[6]q
    port = %[7]d
    ca_file = %[8]q
  }
}

transport "graph" {
  plugin = "graph"
  from   = %[2]q
  config {
    tenant_id = %[3]q
    client_id = %[4]q
    client_secret = env("TOCSIN_TEST_APP_SECRET")
    authority = %[5]q
    graph_endpoint = %[10]q
    ca_file = %[8]q
  }
}

transport "google" {
  plugin = "smtp-oauth-google"
  from   = %[11]q
  config {
    service_account_file = %[12]q
    subject = %[11]q
    host = %[13]q
    port = %[14]d
    ca_file = %[8]q
  }
}

transport "gmail" {
  plugin = "gmail"
  from   = %[11]q
  config {
    service_account_file = %[12]q
    subject = %[11]q
    api_endpoint = %[15]q
    ca_file = %[8]q
  }
}

contact "via_m365app" {
  email = ["ops@contoso.example"]
  via   = [transport.m365app]
}
contact "via_m365bad" {
  email = ["ops@contoso.example"]
  via   = [transport.m365bad]
}
contact "via_m365del" {
  email = ["ops@contoso.example"]
  via   = [transport.m365del]
}
contact "via_graph" {
  email = ["ops@contoso.example"]
  via   = [transport.graph]
}
contact "via_google" {
  email = ["ops@example.com"]
  via   = [transport.google]
}
contact "via_gmail" {
  email = ["ops@example.com"]
  via   = [transport.gmail]
}

rule "leak_probe" {
  schedule = "@every 2s"
  when     = true
  repeat   = "2s"
  notify   = [contact.via_m365app, contact.via_m365bad, contact.via_m365del, contact.via_graph, contact.via_google, contact.via_gmail]
  subject  = "probe on ${node.name}"
  text     = "probe"
  html     = "<p>probe</p>"
}
`, listen, mailbox, tenant, appID, id.URL(), msSMTP.Host(), msSMTP.Port(), caFile, pubID, graph.URL(), gUser, saFile, gSMTP.Host(), gSMTP.Port(), gmail.URL(),
		listener.CertFile(), listener.KeyFile(), readTokenFile, hex.EncodeToString(adminSum[:]), listener.Fingerprint(), peerTokenFile)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}

	// The delegated login, through the device flow, stored as the login
	// command stores it.
	tok, err := oauthlogin.Run(context.Background(), sdkLogin{id: id, tenant: tenant, client: pubID, ca: ca}.config(), oauthlogin.Options{Device: true, Out: approver{id}})
	if err != nil {
		t.Fatal(err)
	}
	store := agent.NewTokenStore(cfg.Agent)
	if err := store.Put(tokenstore.Entry{Transport: "m365del", RefreshToken: tok.RefreshToken, Account: mailbox}); err != nil {
		t.Fatal(err)
	}
	refreshTokens := []string{tok.RefreshToken, tok.AccessToken}

	var where, texts []string
	collect := func(name string, r cliResult) {
		where = append(where, name+" stdout", name+" stderr")
		texts = append(texts, r.stdout, r.stderr)
	}
	collect("validate", runCLI(t, "validate", "-config", path))
	for _, tr := range []string{"m365app", "m365bad", "m365del", "graph", "google", "gmail"} {
		r := runCLI(t, "test-send", "-config", path, "-transport", tr, "-to", "ops@example.com")
		if (r.code == exitOK) != (tr != "m365bad") {
			t.Errorf("test-send %s: exit %d\n%s%s", tr, r.code, r.stdout, r.stderr)
		}
		if tr == "m365bad" && !strings.Contains(r.stderr, "AADSTS7000215") {
			t.Errorf("test-send with a wrong secret does not show AADSTS7000215:\n%s", r.stderr)
		}
		collect("test-send "+tr, r)
	}

	// The agent itself, at trace level, with its plugins' logs.
	cmd := exec.Command(tocsinBinary(t), "run", "-config", path)
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var agentOut, agentErr strings.Builder
	var copying sync.WaitGroup
	copying.Add(2)
	go func() { defer copying.Done(); _, _ = io.Copy(&agentOut, stdout) }()
	go func() { defer copying.Done(); _, _ = io.Copy(&agentErr, stderr) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// test-send delivered 2 through msSMTP (app, delegated) and one each
	// through the others; the agent's probes add at least as many again.
	for _, w := range []struct {
		n    int
		wait func(context.Context, int) error
	}{
		{4, func(ctx context.Context, n int) error { _, err := msSMTP.Wait(ctx, n); return err }},
		{2, func(ctx context.Context, n int) error { _, err := gSMTP.Wait(ctx, n); return err }},
	} {
		if err := w.wait(ctx, w.n); err != nil {
			t.Fatalf("the agent did not deliver: %v\n%s", err, agentErr.String())
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(graph.Messages()) < 2 || len(gmail.Messages()) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("graph %d, gmail %d messages; want 2 each", len(graph.Messages()), len(gmail.Messages()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The API, by each credential, a wrong one among them.
	pinned, err := identity.ClientConfig(listener.Fingerprint(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	api := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pinned, DisableKeepAlives: true}}
	// call returns the answer's body, and its headers and body.
	call := func(path string, code int, auth func(*http.Request)) (string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+listen+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		auth(req)
		resp, err := api.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d: %s", path, resp.StatusCode, code, body)
		}
		var hdr strings.Builder
		_ = resp.Header.Write(&hdr)
		return string(body), hdr.String() + string(body)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	// The peer check reads the agent itself with the peer token: wait
	// for it to have done so.
	for deadline := time.Now().Add(30 * time.Second); ; {
		body, _ := call("/v1/status", http.StatusOK, bearer(peerToken))
		var st struct {
			Checks map[string]struct {
				Kind  string
				OK    bool
				Error string
			}
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("status: %v\n%s", err, body)
		}
		c, ok := st.Checks["self"]
		if ok && c.Kind == "peer" && c.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peer check did not read the agent with its token: %+v (checks %v)", c, slices.Collect(maps.Keys(st.Checks)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range []struct {
		name, path string
		code       int
		auth       func(*http.Request)
	}{
		{"/v1/status (peer)", "/v1/status", http.StatusOK, bearer(peerToken)},
		{"/v1/status (read)", "/v1/status", http.StatusOK, bearer(readToken)},
		{"/metrics (read, basic auth)", "/metrics", http.StatusOK, func(r *http.Request) { r.SetBasicAuth("prometheus", readToken) }},
		{"/v1/outbox (admin)", "/v1/outbox", http.StatusOK, bearer(adminToken)},
		{"/v1/outbox (wrong token)", "/v1/outbox", http.StatusUnauthorized, bearer(wrongToken)},
		{"/v1/outbox (read)", "/v1/outbox", http.StatusForbidden, bearer(readToken)},
		{"/healthz (admin)", "/healthz", http.StatusOK, bearer(adminToken)},
	} {
		_, all := call(c.path, c.code, c.auth)
		where, texts = append(where, c.name), append(texts, all)
	}
	for _, args := range [][]string{{"outbox", "list"}, {"identity"}} {
		r := runCLI(t, append(args, "-config", path)...)
		if r.code != exitOK || (args[0] == "identity" && !strings.Contains(r.stdout, listener.Fingerprint())) {
			t.Errorf("%s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		collect(strings.Join(args, " "), r)
	}
	localToken, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(cfg.Agent.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	copying.Wait()
	where, texts = append(where, "agent stdout", "agent stderr"), append(texts, agentOut.String(), agentErr.String())
	if !strings.Contains(agentErr.String(), "AADSTS7000215") {
		t.Error("the agent's log does not show the wrong secret's AADSTS7000215: did the failing transport run?")
	}
	collect("oauth status", runCLI(t, "oauth", "status", "-config", path))

	// Everything that was secret at some point.
	secrets := []string{appSecret, wrongSecret, readToken, peerToken, adminToken, wrongToken, localToken}
	secrets = append(secrets, refreshTokens...)
	if e, ok, err := mustStore(t, cfg).Get("m365del"); err != nil || !ok {
		t.Fatalf("stored token: %v %v", ok, err)
	} else {
		if e.RefreshToken == tok.RefreshToken {
			t.Error("the delegated transport's refresh token was never rotated: the test does not cover rotated tokens")
		}
		secrets = append(secrets, e.RefreshToken)
	}
	issued := tokens.all()
	if len(issued) < 8 {
		t.Fatalf("the servers saw only %d access tokens", len(issued))
	}
	secrets = append(secrets, issued...)
	t.Logf("checked %d secrets (%d access tokens) in %d outputs; the agent logged %d bytes", len(secrets), len(issued), len(texts), agentErr.Len())
	// The private key: its base64 lines, each long enough to be unique.
	for _, line := range strings.Split(sa.PrivateKey, "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	// The listener's TLS key likewise.
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	sdktest.NoSecrets(t, secrets, where, texts...)
}

// sdkLogin is the delegated app's login config, as smtp-oauth-ms would
// give it.
type sdkLogin struct {
	id             *testserver.MicrosoftIdentity
	tenant, client string
	ca             *testserver.CA
}

func mustStore(t *testing.T, cfg *config.Config) *tokenstore.Store {
	t.Helper()
	st, err := agent.NewTokenStore(cfg.Agent).Open()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (l sdkLogin) config() *sdk.LoginConfig {
	return &sdk.LoginConfig{
		AuthURL: l.id.AuthURL(l.tenant), TokenURL: l.id.TokenURL(l.tenant), DeviceAuthURL: l.id.DeviceAuthURL(l.tenant),
		ClientID: l.client, Scopes: []string{testserver.MicrosoftScopeSMTPSend, "offline_access"},
		CACertsPEM: l.ca.CertPEM(),
	}
}
