package googleoauth_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// diag is the part of a diagnostic the tests compare.
type diag struct {
	Severity  sdk.Severity
	Attribute string
	Summary   string
}

func diagsOf(d sdk.Diagnostics) []diag {
	var out []diag
	for _, x := range d {
		out = append(out, diag{x.Severity, x.Attribute, x.Summary})
	}
	return out
}

func TestTransport_Configure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	notJSON := writeFile(t, dir, "notjson.json", []byte("-----BEGIN PRIVATE KEY-----\n"))
	sa := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"service_account_file": e.saFile, "subject": mailbox}
		if mut != nil {
			mut(m)
		}
		return m
	}
	client := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"client_file": e.clientFile}
		if mut != nil {
			mut(m)
		}
		return m
	}
	tests := []struct {
		name       string
		from       string // default mailbox
		settings   map[string]any
		credential string
		want       []diag
	}{
		{name: "service account", settings: sa(nil)},
		{name: "login", settings: client(nil), credential: "1//0refresh"},
		{name: "implicit TLS", settings: sa(func(m map[string]any) { m["security"] = "tls" })},
		{
			name: "login without a refresh token warns", settings: client(nil),
			want: []diag{{sdk.SeverityWarning, "client_file", `No refresh token stored for transport "gmail": run "tocsin oauth login -config PATH -transport gmail"`}},
		},
		{
			name: "no credential", settings: map[string]any{},
			want: []diag{{sdk.SeverityError, "", "No Google credential"}},
		},
		{
			name: "both credentials", settings: sa(func(m map[string]any) { m["client_file"] = e.clientFile }),
			want: []diag{{sdk.SeverityError, "client_file", "Both service_account_file and client_file are set"}},
		},
		{
			name: "service account without a subject", settings: sa(func(m map[string]any) { delete(m, "subject") }),
			want: []diag{{sdk.SeverityError, "subject", "Subject is empty"}},
		},
		{
			name: "username is not the subject", settings: sa(func(m map[string]any) { m["username"] = otherMailbox }),
			want: []diag{
				{sdk.SeverityWarning, "subject", "Username " + otherMailbox + " is not the subject " + mailbox},
				{sdk.SeverityWarning, "username", "From " + mailbox + " is not the mailbox " + otherMailbox + " logs in as"},
			},
		},
		{
			name: "subject with a login", settings: client(func(m map[string]any) { m["subject"] = mailbox }), credential: "1//0refresh",
			want: []diag{{sdk.SeverityWarning, "subject", "Subject is not used with client_file"}},
		},
		{
			name: "from is another address", from: "noreply@example.com", settings: sa(func(m map[string]any) { m["username"] = mailbox }),
			want: []diag{{sdk.SeverityWarning, "username", "From noreply@example.com is not the mailbox " + mailbox + " logs in as"}},
		},
		{
			name: "client file given as the service account", settings: sa(func(m map[string]any) { m["service_account_file"] = e.clientFile }),
			want: []diag{{sdk.SeverityError, "service_account_file", "service_account_file " + e.clientFile + " is an OAuth client file (installed): give it as client_file"}},
		},
		{
			name: "service account given as the client file", settings: client(func(m map[string]any) { m["client_file"] = e.saFile }), credential: "1//0refresh",
			want: []diag{{sdk.SeverityError, "client_file", "client_file " + e.saFile + " is a service account key: give it as service_account_file, with subject"}},
		},
		{
			name: "unreadable service account file", settings: sa(func(m map[string]any) { m["service_account_file"] = missing }),
			want: []diag{{sdk.SeverityError, "service_account_file", "read service_account_file: open " + missing + ": no such file or directory"}},
		},
		{
			name: "not JSON", settings: client(func(m map[string]any) { m["client_file"] = notJSON }),
			want: []diag{{sdk.SeverityError, "client_file", "client_file " + notJSON + " is not a Google credentials JSON file"}},
		},
		{
			name: "shared settings are checked", settings: sa(func(m map[string]any) { m["timeout"] = "0s" }),
			want: []diag{{sdk.SeverityError, "timeout", "Timeout must be positive"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from := tt.from
			if from == "" {
				from = mailbox
			}
			tr := googleoauth.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "gmail", From: from, Settings: settings(t, tt.settings), Credential: tt.credential, SaveCredential: func(string) {}})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if got := diagsOf(diags); !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
			for _, d := range diags {
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
				sdktest.NoSecrets(t, []string{e.secret, privateKey(t, e.saKey)}, []string{"diagnostic"}, d.Summary+d.Detail)
			}
			if diags.HasErrors() {
				if err := tr.Check(t.Context()); err != xoauth2send.ErrNotConfigured {
					t.Errorf("Check after error diagnostics: %v, want ErrNotConfigured", err)
				}
			}
		})
	}
}

// TestTransport_noLogin: client_file without a stored refresh token is
// configured with a warning, Check and Send fail permanently naming the
// login command, and LoginConfig tells the agent how to log in, without
// the device flow.
func TestTransport_noLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	tr := googleoauth.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "gmail", From: mailbox, Settings: settings(t, e.clientSettings()), SaveCredential: func(string) {}})
	if err != nil || len(diags) != 1 || diags[0].Severity != sdk.SeverityWarning {
		t.Fatalf("Configure: %v %+v, want one warning", err, diags)
	}
	for name, err := range map[string]error{"Check": tr.Check(t.Context()), "Send": sendOne(t, tr, "nologin@tocsin.test")} {
		de := deliveryError(t, err)
		if de.Kind != sdk.Permanent || !strings.Contains(de.Error(), `no refresh token stored for transport "gmail"`) || !strings.Contains(de.Remedy, "tocsin oauth login -config PATH -transport gmail") {
			t.Errorf("%s: %v (remedy %q)", name, err, de.Remedy)
		}
	}
	if c := e.g.Counts(); c.Token != 0 || e.smtp.Connections() != 0 {
		t.Errorf("token requests %+v, %d connections without a login", c, e.smtp.Connections())
	}
	lc, err := tr.LoginConfig(t.Context())
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	if lc.AuthURL != e.g.AuthURL() || lc.TokenURL != e.g.TokenURL() || lc.DeviceAuthURL != "" || lc.NoDeviceReason != googleoauth.NoDeviceReason {
		t.Errorf("endpoints %+v", lc)
	}
	if lc.ClientID != e.clientID || lc.ClientSecret != e.secret || lc.Account != mailbox || !slices.Equal(lc.Scopes, []string{googleoauth.Scope}) {
		t.Errorf("client %q, account %q, scopes %q", lc.ClientID, lc.Account, lc.Scopes)
	}
	if want := map[string]string{"access_type": "offline", "prompt": "consent", "login_hint": mailbox}; !maps.Equal(lc.AuthParams, want) {
		t.Errorf("auth params %v, want %v", lc.AuthParams, want)
	}
	if !bytes.Equal(lc.CACertsPEM, mustRead(t, e.caFile)) {
		t.Error("CACertsPEM is not the ca_file")
	}
}

func TestTransport_LoginConfig_serviceAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	tr := configure(t, e.saSettings(), "")
	if lc, err := tr.LoginConfig(t.Context()); !errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig = %+v, %v; want ErrNoLogin", lc, err)
	}
	if _, err := googleoauth.New("test").LoginConfig(t.Context()); err == nil || errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig before Configure: %v, want not configured", err)
	}
}

// TestTransport_implicitTLS sends over TLS from the first byte, as to
// smtp.gmail.com:465.
func TestTransport_implicitTLS(t *testing.T) {
	t.Parallel()
	e := newEnvTLS(t, testserver.GoogleOAuthOptions{}, true)
	m := e.saSettings()
	m["security"] = "tls"
	if err := sendOne(t, configure(t, m, ""), "tls@tocsin.test"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := e.smtp.Messages(); len(got) != 1 || !got[0].TLS || got[0].User != mailbox {
		t.Errorf("server received %+v", got)
	}
}

// TestTransport_tokenCaching: 50 sends within a token's lifetime make one
// token request.
func TestTransport_tokenCaching(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	tr := configure(t, e.saSettings(), "")
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- sendOne(t, tr, fmt.Sprintf("cache-%d@tocsin.test", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if c := e.g.Counts(); c.JWTBearer != 1 {
		t.Errorf("%d token requests for %d sends, want 1", c.JWTBearer, n)
	}
	if got := len(e.smtp.Messages()); got != n {
		t.Errorf("server received %d messages, want %d", got, n)
	}
}

// TestTransport_tokenRefreshedBeforeExpiry: with tokens that live 2 s and
// a grace of 1 s, a user's login keeps sending for 4 s without a failure
// (Gmail rejects expired tokens), refreshing about once a second. Every
// send logs in anew: a pooled connection would need no token.
func TestTransport_tokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{TokenLifetime: 2 * time.Second})
	m := e.clientSettings()
	m["token_grace"] = "1s"
	m["idle_timeout"] = "1ms"
	tr := configure(t, m, e.refreshToken(t))
	start := time.Now()
	sends := 0
	for time.Since(start) < 4*time.Second {
		sends++
		if err := sendOne(t, tr, fmt.Sprintf("expiry-%d@tocsin.test", sends)); err != nil {
			t.Fatalf("send %d after %v: %v", sends, time.Since(start).Round(time.Millisecond), err)
		}
		waitLoggedOut(t, e.smtp)
		time.Sleep(50 * time.Millisecond)
	}
	if c := e.g.Counts(); c.RefreshToken < 3 || c.RefreshToken > 6 {
		t.Errorf("%d token requests in 4 s, want 3 to 6", c.RefreshToken)
	}
}

func TestTransport_Describe(t *testing.T) {
	t.Parallel()
	d, err := googleoauth.New("1.2.3").Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "smtp-oauth-google" || d.Version != "1.2.3" || !d.Batch || d.Summary == "" {
		t.Errorf("description = %+v", d)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	var names, sensitive []string
	for _, a := range d.Schema {
		names = append(names, a.Name)
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if a.Sensitive {
			sensitive = append(sensitive, a.Name)
		}
		if a.Required {
			t.Errorf("attribute %q is required", a.Name)
		}
	}
	for _, n := range []string{"host", "port", "security", "username", "service_account_file", "subject", "client_file", "token_grace", "ca_file"} {
		if !slices.Contains(names, n) {
			t.Errorf("no setting %q", n)
		}
	}
	if len(sensitive) != 0 { // paths and a duration: nothing here is a secret itself
		t.Errorf("sensitive attributes %q", sensitive)
	}
	if host, _ := d.Schema.Lookup("host"); host.Default != "smtp.gmail.com" {
		t.Errorf("host default %q", host.Default)
	}
}

// TestSchema_acceptedByConfigure checks that every attribute the schema
// declares is a setting Configure takes, with a value of the declared type.
func TestSchema_acceptedByConfigure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	sample := map[string]any{
		"service_account_file": e.saFile, "subject": mailbox, "client_file": "",
		"host": "smtp.gmail.com", "port": 465, "security": "tls", "username": mailbox,
		"token_grace": "30s", "ca_file": e.caFile, "timeout": "30s", "helo": "node.example.test",
		"max_connections": 2, "idle_timeout": "10s",
	}
	var names, sampled []string
	for _, a := range googleoauth.Schema {
		names = append(names, a.Name)
		v, ok := sample[a.Name]
		if !ok {
			continue
		}
		var typeOK bool
		switch a.Type {
		case sdk.TypeString, sdk.TypeDuration:
			s, isString := v.(string)
			typeOK = isString && (len(a.OneOf) == 0 || slices.Contains(a.OneOf, s))
		case sdk.TypeNumber:
			_, typeOK = v.(int)
		}
		if !typeOK {
			t.Errorf("sample value %v does not fit attribute %q (%s)", v, a.Name, a.Type)
		}
	}
	for k := range sample {
		sampled = append(sampled, k)
	}
	sort.Strings(names)
	sort.Strings(sampled)
	if !slices.Equal(names, sampled) {
		t.Fatalf("schema attributes %q, sample covers %q: update the sample", names, sampled)
	}
	configure(t, sample, "")
}

// TestConformance runs the SDK's conformance kit against smtp-oauth-google
// with a service account: tokens from the Google OAuth stand-in, mail to
// a Gmail-style XOAUTH2 server, both over TLS from a throw-away CA. The
// service account's private key must never show.
func TestConformance(t *testing.T) {
	e := newEnv(t, testserver.GoogleOAuthOptions{})
	sdktest.RunConformance(t, func() sdk.Transport { return googleoauth.New("test") }, sdktest.Conformance{
		Target: func(*testing.T) (map[string]any, func() [][]byte) {
			return e.saSettings(), func() [][]byte {
				var raw [][]byte
				for _, m := range e.smtp.Messages() {
					raw = append(raw, m.Data)
				}
				return raw
			}
		},
		Secrets: []string{privateKey(t, e.saKey)},
		From:    mailbox,
	})
}
