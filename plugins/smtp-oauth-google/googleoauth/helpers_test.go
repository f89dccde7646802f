package googleoauth_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// The Workspace users of the tests. The service account may act for
// mailbox only; the user who consents to logins is mailbox.
const (
	mailbox      = "alerts@example.com"
	otherMailbox = "ceo@example.com"
)

// env is Google in miniature: the OAuth endpoints, a service account with
// domain-wide delegation for mailbox, an OAuth client, and smtp.gmail.com,
// which accepts a token only for the user it acts for.
type env struct {
	ca     *testserver.CA
	caFile string
	g      *testserver.GoogleOAuth
	smtp   *testserver.Server

	saFile     string // service account key, delegated for mailbox
	saKey      []byte
	clientFile string // OAuth client ("installed")
	clientID   string
	secret     string // the client's secret

	mu    sync.Mutex
	reply error           // when set, answers every AUTH
	seen  map[string]bool // the tokens the SMTP server was shown
}

func newEnv(t *testing.T, opts testserver.GoogleOAuthOptions) *env {
	t.Helper()
	return newEnvTLS(t, opts, false)
}

// newEnvTLS is newEnv with an SMTP server speaking TLS from the first byte
// when implicit (port 465 style).
func newEnvTLS(t *testing.T, opts testserver.GoogleOAuthOptions, implicit bool) *env {
	t.Helper()
	if opts.ConsentUser == "" {
		opts.ConsentUser = mailbox
	}
	ca, caFile := xoauth2test.NewCA(t)
	e := &env{ca: ca, caFile: caFile, seen: map[string]bool{}}
	e.g = testserver.StartGoogleOAuthT(t, ca, opts)
	dir := t.TempDir()
	sa, err := e.g.NewServiceAccount("tocsin-alerts", []string{googleoauth.Scope}, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	e.saKey = sa
	e.saFile = writeFile(t, dir, "service-account.json", sa)
	client, err := e.g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	e.clientFile = writeFile(t, dir, "client_secret.json", client)
	var parsed struct {
		Installed struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"installed"`
	}
	if err := json.Unmarshal(client, &parsed); err != nil {
		t.Fatal(err)
	}
	e.clientID, e.secret = parsed.Installed.ClientID, parsed.Installed.ClientSecret
	e.smtp = xoauth2test.StartSMTP(t, ca, implicit, testserver.StyleGoogle, e.validate)
	return e
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validate is Gmail's check of an XOAUTH2 login: a valid token with the
// https://mail.google.com/ scope, acting for the user who logs in.
func (e *env) validate(user, token string) error {
	e.mu.Lock()
	reply := e.reply
	e.seen[token] = true
	e.mu.Unlock()
	if reply != nil {
		return reply
	}
	c, err := e.g.Validate(token)
	if err != nil {
		return err
	}
	if !slices.Contains(c.Scopes, googleoauth.Scope) || !strings.EqualFold(c.Subject, user) {
		return errors.New("token not for this user")
	}
	return nil
}

// tokens returns the access tokens the SMTP server was shown.
func (e *env) tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.seen))
}

func (e *env) setReply(err error) {
	e.mu.Lock()
	e.reply = err
	e.mu.Unlock()
}

// saSettings configures a service account acting for mailbox.
func (e *env) saSettings() map[string]any {
	return map[string]any{
		"host":                 e.smtp.Host(),
		"port":                 e.smtp.Port(),
		"ca_file":              e.caFile,
		"service_account_file": e.saFile,
		"subject":              mailbox,
		"timeout":              "20s",
	}
}

// clientSettings configures a user's login with the OAuth client.
func (e *env) clientSettings() map[string]any {
	m := e.saSettings()
	delete(m, "service_account_file")
	delete(m, "subject")
	m["client_file"] = e.clientFile
	return m
}

// refreshToken returns a refresh token of the OAuth client for mailbox, as
// `tocsin oauth login` would have stored.
func (e *env) refreshToken(t *testing.T) string {
	t.Helper()
	rt, err := e.g.NewRefreshToken(e.clientID, mailbox, googleoauth.Scope)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func settings(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure configures a new in-process transport as transport "gmail"
// with from mailbox, and fails the test on an error or error diagnostics.
func configure(t *testing.T, m map[string]any, credential string) *googleoauth.Transport {
	t.Helper()
	tr := googleoauth.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "gmail", From: mailbox, Settings: settings(t, m), Credential: credential, SaveCredential: func(string) {}})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure: %v %+v", err, diags)
	}
	return tr
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: mailbox},
		To:      []sdk.Address{{Address: "ops@example.net"}},
		Subject: "disk full",
		Text:    "The disk is full.\n",
	}
}

// sendOne sends one message and returns its error, batch or own.
func sendOne(t *testing.T, tr sdk.Transport, id string) error {
	t.Helper()
	results, err := tr.Send(t.Context(), []*sdk.Message{message(id)})
	if err != nil {
		return err
	}
	return results[0].Err
}

func deliveryError(t *testing.T, err error) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *sdk.DeliveryError", err, err)
	}
	return de
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitLoggedOut waits until srv has no connection open, so that the next
// send logs in anew (with idle_timeout tiny, the pool keeps nothing).
func waitLoggedOut(t *testing.T, srv *testserver.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SMTP connections still open", srv.Open())
		}
		time.Sleep(time.Millisecond)
	}
}
