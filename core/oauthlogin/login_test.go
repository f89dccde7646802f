package oauthlogin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/oauthlogin"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const (
	tenant   = "contoso.example"
	clientID = "9f3c2a5e-1b7d-4c8e-a6f0-2d4b8e1c7a93"
	mailbox  = "alerts@contoso.example"
)

// operator reads the instructions the login prints, line by line.
type operator struct {
	w     *io.PipeWriter
	lines chan string
}

func newOperator(t *testing.T) *operator {
	r, w := io.Pipe()
	o := &operator{w: w, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			o.lines <- sc.Text()
		}
		close(o.lines)
	}()
	t.Cleanup(func() { _ = w.Close() })
	return o
}

// await returns the first submatch of re in the printed lines.
func (o *operator) await(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-o.lines:
			if !ok {
				t.Fatalf("login output ended without a line matching %s", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %s within 10s", re)
		}
	}
}

func microsoft(t *testing.T, opts testserver.MicrosoftOptions) (*testserver.MicrosoftIdentity, *testserver.CA) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	id := testserver.StartMicrosoftIdentityT(t, ca, opts)
	if err := id.AddApp(testserver.MicrosoftApp{
		Tenant: tenant, ClientID: clientID, Name: "Tocsin", Public: true,
		DelegatedScopes: []string{testserver.MicrosoftScopeSMTPSend},
		RedirectURIs:    []string{"http://localhost"},
		User:            mailbox,
	}); err != nil {
		t.Fatal(err)
	}
	return id, ca
}

func msLogin(id *testserver.MicrosoftIdentity, ca *testserver.CA) *sdk.LoginConfig {
	return &sdk.LoginConfig{
		AuthURL: id.AuthURL(tenant), TokenURL: id.TokenURL(tenant), DeviceAuthURL: id.DeviceAuthURL(tenant),
		ClientID: clientID, Scopes: []string{testserver.MicrosoftScopeSMTPSend, "offline_access"},
		AuthParams: map[string]string{"login_hint": mailbox},
		CACertsPEM: ca.CertPEM(), Account: mailbox,
	}
}

// browse plays the operator's browser: it opens url and follows the
// redirect back to the login's listener.
func browse(t *testing.T, ca *testserver.CA, url string) *http.Response {
	t.Helper()
	hc, err := oauthlogin.HTTPClient(ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

var urlLine = regexp.MustCompile(`^\s+(https://\S+)$`)

func TestRun_BrowserFlowMicrosoft(t *testing.T) {
	id, ca := microsoft(t, testserver.MicrosoftOptions{})
	op := newOperator(t)
	type result struct {
		refresh string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := oauthlogin.Run(context.Background(), msLogin(id, ca), oauthlogin.Options{Out: op.w})
		r := result{err: err}
		if tok != nil {
			r.refresh = tok.RefreshToken
		}
		done <- r
	}()
	u := op.await(t, urlLine)[1]
	for _, want := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "login_hint=", "redirect_uri=http%3A%2F%2Flocalhost%3A"} {
		if !strings.Contains(u, want) {
			t.Errorf("authorization URL %s lacks %s", u, want)
		}
	}
	if resp := browse(t, ca, u); resp.StatusCode != http.StatusOK {
		t.Errorf("redirect listener answered %s", resp.Status)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.refresh == "" {
		t.Fatal("no refresh token")
	}
	if n := id.Requests("authorization_code"); n != 1 {
		t.Errorf("authorization_code requests = %d, want 1", n)
	}
}

func TestRun_BrowserFlowGoogle(t *testing.T) {
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	g := testserver.StartGoogleOAuthT(t, ca, testserver.GoogleOAuthOptions{})
	raw, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Installed struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"installed"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	lc := &sdk.LoginConfig{
		AuthURL: g.AuthURL(), TokenURL: g.TokenURL(),
		ClientID: file.Installed.ClientID, ClientSecret: file.Installed.ClientSecret,
		Scopes:     []string{"https://mail.google.com/"},
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
		CACertsPEM: ca.CertPEM(),
	}
	op := newOperator(t)
	done := make(chan error, 1)
	go func() {
		tok, err := oauthlogin.Run(context.Background(), lc, oauthlogin.Options{Out: op.w})
		if err == nil && tok.RefreshToken == "" {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	browse(t, ca, op.await(t, urlLine)[1])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := g.Counts(); c.AuthorizationCode != 1 {
		t.Errorf("authorization_code requests = %d, want 1", c.AuthorizationCode)
	}
}

func TestRun_DeviceFlow(t *testing.T) {
	id, ca := microsoft(t, testserver.MicrosoftOptions{DeviceCodeInterval: 1})
	op := newOperator(t)
	done := make(chan error, 1)
	go func() {
		tok, err := oauthlogin.Run(context.Background(), msLogin(id, ca), oauthlogin.Options{Device: true, Out: op.w})
		if err == nil && tok.RefreshToken == "" {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	code := op.await(t, regexp.MustCompile(`enter the code (\S+)$`))[1]
	if err := id.Approve(code); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("device flow did not finish after approval")
	}
}

func TestRun_Errors(t *testing.T) {
	id, ca := microsoft(t, testserver.MicrosoftOptions{})
	tests := []struct {
		name string
		lc   func() *sdk.LoginConfig
		opts oauthlogin.Options
		want string
	}{
		{
			name: "no device flow",
			lc: func() *sdk.LoginConfig {
				lc := msLogin(id, ca)
				lc.DeviceAuthURL, lc.NoDeviceReason = "", "Google does not allow Gmail scopes in the device flow"
				return lc
			},
			opts: oauthlogin.Options{Device: true},
			want: "no device flow: Google does not allow Gmail scopes",
		},
		{
			name: "unknown client in the device flow",
			lc: func() *sdk.LoginConfig {
				lc := msLogin(id, ca)
				lc.ClientID = "00000000-0000-0000-0000-000000000000"
				return lc
			},
			opts: oauthlogin.Options{Device: true},
			want: "AADSTS700016",
		},
		{
			name: "nobody signs in",
			lc:   func() *sdk.LoginConfig { return msLogin(id, ca) },
			opts: oauthlogin.Options{Timeout: 300 * time.Millisecond},
			want: "nobody completed the sign-in",
		},
		{
			name: "no token URL",
			lc:   func() *sdk.LoginConfig { return &sdk.LoginConfig{ClientID: "x"} },
			want: "no token URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oauthlogin.Run(context.Background(), tt.lc(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRun_StateMismatchIsRefused(t *testing.T) {
	id, ca := microsoft(t, testserver.MicrosoftOptions{})
	op := newOperator(t)
	done := make(chan error, 1)
	go func() {
		_, err := oauthlogin.Run(context.Background(), msLogin(id, ca), oauthlogin.Options{Out: op.w, Timeout: 3 * time.Second})
		done <- err
	}()
	u := op.await(t, urlLine)[1]
	redirect := regexp.MustCompile(`redirect_uri=http%3A%2F%2Flocalhost%3A(\d+)`).FindStringSubmatch(u)
	if redirect == nil {
		t.Fatalf("no redirect port in %s", u)
	}
	// A forged answer with another state must not complete the login.
	resp, err := http.Get("http://127.0.0.1:" + redirect[1] + "/?code=forged&state=not-ours")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged answer got %s, want 400", resp.Status)
	}
	browse(t, ca, u)
	if err := <-done; err != nil {
		t.Fatalf("the real answer after a forged one: %v", err)
	}
}
