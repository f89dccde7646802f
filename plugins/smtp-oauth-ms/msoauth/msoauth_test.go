package msoauth_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
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
	_, caFile := newCAFile(t)
	_, certFile, keyFile := certificate(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"tenant_id": tenant, "client_id": appID, "client_secret": appSecret}
		if mut != nil {
			mut(m)
		}
		return m
	}
	delegated := func(mut func(m map[string]any)) map[string]any {
		return app(func(m map[string]any) {
			m["mode"] = "delegated"
			delete(m, "client_secret")
			if mut != nil {
				mut(m)
			}
		})
	}
	const noLoginSummary = `No refresh token stored for transport "o365": run "tocsin oauth login -config PATH -transport o365"`
	tests := []struct {
		name       string
		from       string // default mailbox
		settings   map[string]any
		credential string
		want       []diag
	}{
		{name: "app with a secret", settings: app(nil)},
		{name: "app with a certificate and key", settings: app(func(m map[string]any) {
			delete(m, "client_secret")
			m["client_certificate"], m["client_key"] = certFile, keyFile
		})},
		{name: "every SMTP setting", settings: app(func(m map[string]any) {
			m["host"], m["port"], m["security"] = "smtp.office365.us", 465, "tls"
			m["username"], m["token_grace"], m["ca_file"] = mailbox, "1m", caFile
			m["timeout"], m["helo"], m["authority"] = "10s", "node.example.test", "https://login.microsoftonline.us/"
		})},
		{name: "delegated public client with a login", settings: delegated(nil), credential: "1.Arefresh"},
		{name: "delegated confidential client with a login", settings: delegated(func(m map[string]any) { m["client_secret"] = appSecret }), credential: "1.Arefresh"},
		{
			name: "delegated without a login warns", settings: delegated(nil),
			want: []diag{{sdk.SeverityWarning, "mode", noLoginSummary}},
		},
		{
			name: "from differs from the mailbox", from: "noreply@contoso.example", settings: app(func(m map[string]any) { m["username"] = mailbox }),
			want: []diag{{sdk.SeverityWarning, "username", "From noreply@contoso.example is not the mailbox " + mailbox + " logs in as"}},
		},
		{
			name: "no tenant, no client", settings: app(func(m map[string]any) { m["tenant_id"], m["client_id"] = "", " " }),
			want: []diag{{sdk.SeverityError, "tenant_id", "Tenant ID is empty"}, {sdk.SeverityError, "client_id", "Client ID is empty"}},
		},
		{
			name: "app without a credential", settings: app(func(m map[string]any) { delete(m, "client_secret") }),
			want: []diag{{sdk.SeverityError, "client_secret", "No client credential"}},
		},
		{
			name: "app with a key but no certificate", settings: app(func(m map[string]any) { delete(m, "client_secret"); m["client_key"] = keyFile }),
			want: []diag{{sdk.SeverityError, "client_key", "No client credential"}},
		},
		{
			name: "app with both credentials", settings: app(func(m map[string]any) { m["client_certificate"] = certFile }),
			want: []diag{{sdk.SeverityError, "client_secret", "Both client_secret and client_certificate are set"}},
		},
		{
			name: "app with an unreadable certificate", settings: app(func(m map[string]any) { delete(m, "client_secret"); m["client_certificate"] = missing }),
			want: []diag{{sdk.SeverityError, "client_certificate", ""}},
		},
		{
			name: "delegated with a certificate", settings: delegated(func(m map[string]any) { m["client_certificate"] = certFile }), credential: "1.Arefresh",
			want: []diag{{sdk.SeverityError, "client_certificate", "client_certificate is not used in mode delegated"}},
		},
		{
			name: "unknown mode", settings: app(func(m map[string]any) { m["mode"] = "user" }),
			want: []diag{{sdk.SeverityError, "mode", `Unknown mode "user"`}},
		},
		{
			name: "authority over http", settings: app(func(m map[string]any) { m["authority"] = "http://login.microsoftonline.com" }),
			want: []diag{{sdk.SeverityError, "authority", `Authority "http://login.microsoftonline.com" is not an https URL`}},
		},
		{
			name: "missing ca_file", settings: app(func(m map[string]any) { m["ca_file"] = missing }),
			want: []diag{{sdk.SeverityError, "ca_file", "read ca_file: open " + missing + ": no such file or directory"}},
		},
		{
			name: "ca_file without a certificate", settings: app(func(m map[string]any) { m["ca_file"] = garbage }),
			want: []diag{{sdk.SeverityError, "ca_file", ""}},
		},
		{
			name: "shared settings are checked", settings: app(func(m map[string]any) { m["port"] = 0x10000 }),
			want: []diag{{sdk.SeverityError, "port", "Port 65536 is out of range"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from := tt.from
			if from == "" {
				from = mailbox
			}
			var logBuf bytes.Buffer
			tr := msoauth.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{
				Transport: "o365", From: from, Settings: settings(t, tt.settings), Credential: tt.credential,
				SaveCredential: func(string) {}, Logger: hclog.New(&hclog.LoggerOptions{Output: &logBuf}),
			})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			got := diagsOf(diags)
			for i := range got {
				if i < len(tt.want) && tt.want[i].Summary == "" {
					got[i].Summary = "" // the wording is the oauth package's
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
			for _, d := range diags {
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
				if strings.Contains(d.Summary+d.Detail+logBuf.String(), appSecret) {
					t.Errorf("diagnostic %q or the log leaks the secret", d.Summary)
				}
			}
			if diags.HasErrors() {
				err := tr.Check(t.Context())
				if err != xoauth2send.ErrNotConfigured {
					t.Errorf("Check after error diagnostics: %v, want ErrNotConfigured", err)
				}
			}
		})
	}
}

func newCAFile(t *testing.T) (*testserver.CA, string) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, path
}

func TestTransport_Configure_undecodable(t *testing.T) {
	t.Parallel()
	tr := configure(t, map[string]any{"tenant_id": tenant, "client_id": appID, "client_secret": appSecret, "host": "127.0.0.1"}, "", nil)
	_, err := tr.Configure(t.Context(), sdk.Config{Transport: "o365", Settings: settings(t, map[string]any{"tennant_id": tenant})})
	if err == nil || err.Error() != `decode settings: json: unknown field "tennant_id"` {
		t.Fatalf("Configure error %v", err)
	}
	if err := tr.Check(t.Context()); err != xoauth2send.ErrNotConfigured {
		t.Errorf("Check after a bad Configure: %v, want ErrNotConfigured", err)
	}
	if _, err := tr.LoginConfig(t.Context()); err == nil || errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig after a bad Configure: %v, want not configured", err)
	}
}

// TestTransport_noLogin: delegated mode without a stored refresh token is
// configured with a warning, Check and Send fail permanently naming the
// login command, and LoginConfig tells the agent how to log in.
func TestTransport_noLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.MicrosoftOptions{})
	tr := msoauth.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "o365", From: mailbox, Settings: settings(t, e.delegatedSettings()), SaveCredential: func(string) {}})
	if err != nil || len(diags) != 1 || diags[0].Severity != sdk.SeverityWarning {
		t.Fatalf("Configure: %v %+v, want one warning", err, diags)
	}
	const command = `run "tocsin oauth login -config PATH -transport o365"`
	if !strings.Contains(diags[0].Summary, `No refresh token stored for transport "o365": `+command) || diags[0].Attribute != "mode" {
		t.Errorf("warning %q", diags[0].Summary)
	}
	checkErr := tr.Check(t.Context())
	results, sendErr := tr.Send(t.Context(), []*sdk.Message{message("nologin@tocsin.test")})
	if results != nil {
		t.Errorf("results %+v", results)
	}
	for name, err := range map[string]error{"Check": checkErr, "Send": sendErr} {
		de := deliveryError(t, err)
		if de.Kind != sdk.Permanent || !strings.Contains(de.Error(), `no refresh token stored for transport "o365"`) || !strings.Contains(de.Remedy, "tocsin oauth login -config PATH -transport o365") {
			t.Errorf("%s: %v (remedy %q)", name, err, de.Remedy)
		}
	}
	if n := e.ms.Requests(testserver.GrantRefreshToken) + e.smtp.Connections(); n != 0 {
		t.Errorf("%d requests and connections without a login", n)
	}

	lc, err := tr.LoginConfig(t.Context())
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	ep := oauth.MicrosoftEndpoint(e.ms.URL(), tenant)
	caPEM, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.LoginConfig{
		AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, DeviceAuthURL: e.ms.DeviceAuthURL(tenant),
		ClientID: delegatedID, ClientSecret: delegatedSec, Account: mailbox,
	}
	got := *lc
	got.Scopes, got.AuthParams, got.CACertsPEM = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoginConfig\n got  %+v\n want %+v", got, want)
	}
	if lc.AuthURL != e.ms.AuthURL(tenant) || lc.TokenURL != e.ms.TokenURL(tenant) {
		t.Errorf("endpoints %s %s are not the stand-in's", lc.AuthURL, lc.TokenURL)
	}
	if !slices.Equal(lc.Scopes, []string{testserver.MicrosoftScopeSMTPSend, "offline_access"}) {
		t.Errorf("scopes %q", lc.Scopes)
	}
	if !maps.Equal(lc.AuthParams, map[string]string{"login_hint": mailbox}) {
		t.Errorf("auth params %v", lc.AuthParams)
	}
	if !bytes.Equal(lc.CACertsPEM, caPEM) {
		t.Errorf("CACertsPEM is not the ca_file")
	}
	// The agent gets a copy.
	lc.AuthParams["login_hint"] = "x"
	if again, _ := tr.LoginConfig(t.Context()); again.AuthParams["login_hint"] != mailbox {
		t.Error("LoginConfig returns shared state")
	}
}

func TestTransport_LoginConfig_appMode(t *testing.T) {
	t.Parallel()
	tr := configure(t, map[string]any{"tenant_id": tenant, "client_id": appID, "client_secret": appSecret}, "", nil)
	if lc, err := tr.LoginConfig(t.Context()); !errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig = %+v, %v; want ErrNoLogin", lc, err)
	}
	if _, err := msoauth.New("test").LoginConfig(t.Context()); err == nil {
		t.Error("LoginConfig before Configure succeeded")
	}
}

// TestTransport_certificate sends with a certificate credential: a client
// assertion the stand-in verifies against the registered certificate.
func TestTransport_certificate(t *testing.T) {
	t.Parallel()
	cert, certFile, keyFile := certificate(t)
	registered := apps()
	registered[0].Secret, registered[0].Certificate = "", cert
	e := newEnv(t, testserver.MicrosoftOptions{}, registered...)
	m := e.appSettings()
	delete(m, "client_secret")
	m["client_certificate"], m["client_key"] = certFile, keyFile
	tr := configure(t, m, "", nil)
	results, err := tr.Send(t.Context(), []*sdk.Message{message("cert@tocsin.test")})
	if err == nil {
		err = results[0].Err
	}
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := e.smtp.Messages(); len(got) != 1 || got[0].User != mailbox {
		t.Errorf("server received %+v", got)
	}
}

func TestTransport_Describe(t *testing.T) {
	t.Parallel()
	d, err := msoauth.New("1.2.3").Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "smtp-oauth-ms" || d.Version != "1.2.3" || !d.Batch || d.Summary == "" {
		t.Errorf("description = %+v", d)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	var names, sensitive, required []string
	for _, a := range d.Schema {
		names = append(names, a.Name)
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if a.Sensitive {
			sensitive = append(sensitive, a.Name)
		}
		if a.Required {
			required = append(required, a.Name)
		}
	}
	// The names the issue fixes.
	for _, n := range []string{"host", "port", "security", "username", "tenant_id", "client_id", "client_secret", "client_certificate", "client_key", "authority", "token_grace", "ca_file", "mode"} {
		if !slices.Contains(names, n) {
			t.Errorf("no setting %q", n)
		}
	}
	sort.Strings(sensitive)
	if !slices.Equal(sensitive, []string{"client_key", "client_secret"}) {
		t.Errorf("sensitive attributes %q", sensitive)
	}
	if !slices.Equal(required, []string{"tenant_id", "client_id"}) {
		t.Errorf("required attributes %q", required)
	}
}

// TestSchema_acceptedByConfigure checks that every attribute the schema
// declares is a setting Configure takes, with a value of the declared type.
func TestSchema_acceptedByConfigure(t *testing.T) {
	t.Parallel()
	_, caFile := newCAFile(t)
	_, certFile, keyFile := certificate(t)
	sample := map[string]any{
		"mode": "app", "tenant_id": tenant, "client_id": appID, "client_secret": "", "client_certificate": certFile,
		"client_key": keyFile, "authority": oauth.DefaultAuthority, "host": "smtp.office365.com", "port": 587,
		"security": "starttls", "username": mailbox, "token_grace": "30s", "ca_file": caFile, "timeout": "30s",
		"max_connections": 2, "idle_timeout": "10s",
		"helo": "node.example.test",
	}
	var names, sampled []string
	for _, a := range msoauth.Schema {
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
	configure(t, sample, "", nil)
}
