package gmail_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestTransport_Describe(t *testing.T) {
	t.Parallel()
	d, err := gmail.New("1.2.3").Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "gmail" || d.Version != "1.2.3" || !d.Batch || d.Summary == "" {
		t.Errorf("description = %+v", d)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	for _, a := range d.Schema {
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if a.Required {
			t.Errorf("attribute %q is required; the mode decides what is needed", a.Name)
		}
	}
}

// TestSchema_acceptedByConfigure checks that every attribute the schema
// declares is a setting Configure takes, with a value of the declared type.
func TestSchema_acceptedByConfigure(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	sample := map[string]any{
		"service_account_file": keyFile,
		"subject":              mailbox,
		"api_endpoint":         g.gmail.URL(),
		"scopes":               []string{gmail.ScopeSend},
		"ca_file":              g.caFile,
		"token_grace":          "10s",
		"timeout":              "10s",
	}
	var names []string
	for _, a := range gmail.Schema {
		names = append(names, a.Name)
		v, ok := sample[a.Name]
		if !ok {
			continue
		}
		var typeOK bool
		switch a.Type {
		case sdk.TypeString, sdk.TypeDuration:
			_, typeOK = v.(string)
		case sdk.TypeListOfString:
			_, typeOK = v.([]string)
		}
		if !typeOK {
			t.Errorf("sample value %v does not fit attribute %q (%s)", v, a.Name, a.Type)
		}
	}
	// client_file excludes service_account_file; it is checked in
	// TestTransport_Configure.
	sampled := append(slices.Collect(maps.Keys(sample)), "client_file")
	sort.Strings(names)
	sort.Strings(sampled)
	if !slices.Equal(names, sampled) {
		t.Fatalf("schema attributes %q, sample covers %q: update the sample", names, sampled)
	}
	if _, diags := configure(t, config(t, sample, "")); len(diags) != 0 {
		t.Errorf("diagnostics: %+v", diags)
	}
}

// diag is the part of a diagnostic the tests compare; Summary is a prefix.
type diag struct {
	Severity  sdk.Severity
	Attribute string
	Summary   string
}

func TestTransport_Configure(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, privateKey := g.serviceAccount(t, nil, mailbox)
	clientFile, _, clientSecret := g.client(t)
	notJSON := g.writeFile(t, "notes.txt", []byte("not a credential\n"))
	missing := filepath.Join(g.dir, "missing.json")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	badKey := g.writeFile(t, "bad-key.json", bytes.Replace(key, []byte("-----BEGIN PRIVATE KEY-----"), []byte("-----BEGIN NOTHING-----"), 1))
	const refresh = "1//0refresh-token-for-configure-tests"

	sa := func(mut func(m map[string]any)) map[string]any {
		m := g.saSettings(keyFile, mailbox)
		if mut != nil {
			mut(m)
		}
		return m
	}
	cl := func(mut func(m map[string]any)) map[string]any {
		m := g.clientSettings(clientFile)
		if mut != nil {
			mut(m)
		}
		return m
	}
	tests := []struct {
		name       string
		settings   map[string]any
		from       string
		credential string
		want       []diag
	}{
		{name: "service account", settings: sa(nil)},
		{name: "service account, from with a display name", settings: sa(nil), from: "Tocsin <OPS@example.com>"},
		{name: "client with a refresh token", settings: cl(nil), credential: refresh},
		{name: "defaults", settings: map[string]any{"service_account_file": keyFile, "subject": mailbox}},
		{
			name:     "both files",
			settings: sa(func(m map[string]any) { m["client_file"] = clientFile }),
			want:     []diag{{sdk.SeverityError, "client_file", "Both service_account_file and client_file are set"}},
		},
		{
			name:     "no file",
			settings: map[string]any{"subject": mailbox},
			want:     []diag{{sdk.SeverityError, "", "Neither service_account_file nor client_file is set"}},
		},
		{
			name:     "service account without subject",
			settings: sa(func(m map[string]any) { delete(m, "subject") }),
			want:     []diag{{sdk.SeverityError, "subject", "Subject required with service_account_file"}},
		},
		{
			name:     "from differs from subject",
			settings: sa(nil),
			from:     "alerts@example.com",
			want:     []diag{{sdk.SeverityWarning, "subject", "From alerts@example.com differs from subject ops@example.com"}},
		},
		{
			name:     "client file given as service_account_file",
			settings: sa(func(m map[string]any) { m["service_account_file"] = clientFile }),
			want:     []diag{{sdk.SeverityError, "service_account_file", "service_account_file " + clientFile + ` is an OAuth client ("installed"), not a service account key`}},
		},
		{
			name:       "service account key given as client_file",
			settings:   cl(func(m map[string]any) { m["client_file"] = keyFile }),
			credential: refresh,
			want:       []diag{{sdk.SeverityError, "client_file", "client_file " + keyFile + " is a service account key, not an OAuth client"}},
		},
		{
			name:     "not a credential file",
			settings: sa(func(m map[string]any) { m["service_account_file"] = notJSON }),
			want:     []diag{{sdk.SeverityError, "service_account_file", "service_account_file " + notJSON + " is not a Google credential JSON file"}},
		},
		{
			name:     "missing file",
			settings: cl(func(m map[string]any) { m["client_file"] = missing }),
			want:     []diag{{sdk.SeverityError, "client_file", "read client_file: open " + missing + ": no such file or directory"}},
		},
		{
			name:     "key that is not a PEM key",
			settings: sa(func(m map[string]any) { m["service_account_file"] = badKey }),
			want:     []diag{{sdk.SeverityError, "service_account_file", "read service account key"}},
		},
		{
			name:     "client without a refresh token",
			settings: cl(nil),
			want:     []diag{{sdk.SeverityWarning, "client_file", `No refresh token stored for transport "gmail"`}},
		},
		{
			name:       "subject with a client",
			settings:   cl(func(m map[string]any) { m["subject"] = mailbox }),
			credential: refresh,
			want:       []diag{{sdk.SeverityWarning, "subject", "Subject is not used with client_file"}},
		},
		{
			name:     "http endpoint",
			settings: sa(func(m map[string]any) { m["api_endpoint"] = "http://gmail.googleapis.com" }),
			want:     []diag{{sdk.SeverityError, "api_endpoint", `api_endpoint "http://gmail.googleapis.com" is not an https base URL`}},
		},
		{
			name:     "no scopes",
			settings: sa(func(m map[string]any) { m["scopes"] = []string{} }),
			want:     []diag{{sdk.SeverityError, "scopes", "No scopes"}},
		},
		{
			name:     "empty scope",
			settings: sa(func(m map[string]any) { m["scopes"] = []string{gmail.ScopeSend, " "} }),
			want:     []diag{{sdk.SeverityError, "scopes", "Empty scope"}},
		},
		{
			name:     "no scope that sends",
			settings: sa(func(m map[string]any) { m["scopes"] = []string{"https://www.googleapis.com/auth/gmail.readonly"} }),
			want:     []diag{{sdk.SeverityWarning, "scopes", "No scope allows sending"}},
		},
		{
			name:     "full scope",
			settings: sa(func(m map[string]any) { m["scopes"] = []string{gmail.ScopeFull} }),
		},
		{
			name:     "zero timeout",
			settings: sa(func(m map[string]any) { m["timeout"] = "0s" }),
			want:     []diag{{sdk.SeverityError, "timeout", "Timeout 0s is not positive"}},
		},
		{
			name:     "negative token grace",
			settings: sa(func(m map[string]any) { m["token_grace"] = "-1s" }),
			want:     []diag{{sdk.SeverityError, "token_grace", "Token grace -1s is negative"}},
		},
		{
			name:     "missing ca_file",
			settings: sa(func(m map[string]any) { m["ca_file"] = missing }),
			want:     []diag{{sdk.SeverityError, "ca_file", "read ca_file: open " + missing}},
		},
		{
			name: "several problems at once",
			settings: sa(func(m map[string]any) {
				m["api_endpoint"] = "gmail.googleapis.com"
				m["timeout"] = "-5s"
				delete(m, "subject")
			}),
			want: []diag{
				{sdk.SeverityError, "api_endpoint", "api_endpoint"},
				{sdk.SeverityError, "timeout", "Timeout -5s is not positive"},
				{sdk.SeverityError, "subject", "Subject required"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(t, tt.settings, tt.credential)
			if tt.from != "" {
				cfg.From = tt.from
			}
			tr := gmail.New("test")
			diags, err := tr.Configure(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if len(diags) != len(tt.want) {
				t.Fatalf("diagnostics:\n got  %+v\n want %+v", diags, tt.want)
			}
			for i, d := range diags {
				w := tt.want[i]
				if d.Severity != w.Severity || d.Attribute != w.Attribute || !strings.HasPrefix(d.Summary, w.Summary) {
					t.Errorf("diagnostic %d = {%v %q %q}, want {%v %q %q…}", i, d.Severity, d.Attribute, d.Summary, w.Severity, w.Attribute, w.Summary)
				}
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
				noSecrets(t, []string{keyBody(privateKey), clientSecret, refresh}, d.Summary, d.Detail)
			}
			if _, err := tr.Describe(t.Context()); err != nil {
				t.Fatal(err)
			}
			if diags.HasErrors() {
				checkNotConfigured(t, tr)
			}
		})
	}
}

// checkNotConfigured checks that Check and Send refuse with the permanent
// not-configured error.
func checkNotConfigured(t *testing.T, tr *gmail.Transport) {
	t.Helper()
	results, sendErr := tr.Send(t.Context(), []*sdk.Message{message("one@tocsin.test")})
	if results != nil {
		t.Errorf("Send returned results %+v with its error", results)
	}
	_, loginErr := tr.LoginConfig(t.Context())
	for name, err := range map[string]error{"Check": tr.Check(t.Context()), "Send": sendErr, "LoginConfig": loginErr} {
		de := deliveryError(t, err)
		if de.Kind != sdk.Permanent || de.Err == nil || de.Err.Error() != "transport is not configured" || de.Remedy == "" {
			t.Errorf("%s error = %v, remedy %q; want permanent \"transport is not configured\" with a remedy", name, err, de.Remedy)
		}
	}
}

func TestTransport_Configure_undecodable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{name: "unknown setting", settings: map[string]any{"client_fil": "x"}, want: `decode settings: json: unknown field "client_fil"`},
		{name: "scopes not a list", settings: map[string]any{"scopes": gmail.ScopeSend}, want: "decode settings: json: cannot unmarshal string into Go struct field settings.scopes of type []string"},
		{name: "bad duration", settings: map[string]any{"timeout": "soon"}, want: `decode settings: parse duration: time: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := gmail.New("test")
			diags, err := tr.Configure(t.Context(), config(t, tt.settings, ""))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Configure error = %v, want %q", err, tt.want)
			}
			if diags != nil {
				t.Errorf("diagnostics %+v with the error", diags)
			}
			checkNotConfigured(t, tr)
		})
	}
}

func TestTransport_notConfigured(t *testing.T) {
	t.Parallel()
	t.Run("before Configure", func(t *testing.T) {
		checkNotConfigured(t, gmail.New("test"))
	})
	t.Run("after a Configure with errors replaced a good one", func(t *testing.T) {
		g := startGoogle(t, testserver.GoogleOAuthOptions{})
		keyFile, _ := g.serviceAccount(t, nil, mailbox)
		tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
		diags, err := tr.Configure(t.Context(), config(t, g.saSettings(keyFile, ""), ""))
		if err != nil || !diags.HasErrors() {
			t.Fatalf("second Configure: %+v, %v; want error diagnostics", diags, err)
		}
		checkNotConfigured(t, tr)
		if n := g.oauth.Counts().Token + g.gmail.Requests(); n != 0 {
			t.Errorf("%d requests reached Google", n)
		}
	})
}

func TestTransport_LoginConfig(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	clientFile, clientID, clientSecret := g.client(t)
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	caPEM, err := os.ReadFile(g.caFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("client, before login", func(t *testing.T) {
		t.Parallel()
		m := g.clientSettings(clientFile)
		m["scopes"] = []string{gmail.ScopeSend, gmail.ScopeFull}
		cfg := config(t, m, "")
		cfg.From = "Alerts <alerts@example.com>"
		tr, _ := configure(t, cfg)
		lc, err := tr.LoginConfig(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if lc.AuthURL != g.oauth.AuthURL() || lc.TokenURL != g.oauth.TokenURL() {
			t.Errorf("endpoints %q, %q; want the client file's %q, %q", lc.AuthURL, lc.TokenURL, g.oauth.AuthURL(), g.oauth.TokenURL())
		}
		if lc.ClientID != clientID || lc.ClientSecret != clientSecret {
			t.Errorf("client %q (secret set: %v), want %q and the file's secret", lc.ClientID, lc.ClientSecret != "", clientID)
		}
		if !slices.Equal(lc.Scopes, []string{gmail.ScopeSend, gmail.ScopeFull}) {
			t.Errorf("scopes = %q", lc.Scopes)
		}
		if want := map[string]string{"access_type": "offline", "prompt": "consent"}; !maps.Equal(lc.AuthParams, want) {
			t.Errorf("auth params = %v, want %v", lc.AuthParams, want)
		}
		if lc.DeviceAuthURL != "" || !strings.Contains(lc.NoDeviceReason, "device flow") || !strings.Contains(lc.NoDeviceReason, "SSH tunnel") {
			t.Errorf("device flow %q, reason %q; want none, and a reason", lc.DeviceAuthURL, lc.NoDeviceReason)
		}
		if !bytes.Equal(lc.CACertsPEM, caPEM) {
			t.Errorf("CA certificates = %q, want the ca_file's", lc.CACertsPEM)
		}
		if lc.Account != "alerts@example.com" {
			t.Errorf("account = %q, want the From address", lc.Account)
		}
		// The answer is a copy.
		lc.Scopes[0], lc.AuthParams["prompt"] = "changed", "none"
		again, err := tr.LoginConfig(t.Context())
		if err != nil || again.Scopes[0] != gmail.ScopeSend || again.AuthParams["prompt"] != "consent" {
			t.Errorf("a caller's change reached the transport: %+v, %v", again, err)
		}
	})
	t.Run("client, default scope, no ca_file", func(t *testing.T) {
		t.Parallel()
		m := g.clientSettings(clientFile)
		delete(m, "ca_file")
		tr, _ := configure(t, config(t, m, "1//0some-refresh-token"))
		lc, err := tr.LoginConfig(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lc.Scopes, []string{gmail.ScopeSend}) || lc.CACertsPEM != nil {
			t.Errorf("scopes %q, CA certificates %q; want gmail.send and none", lc.Scopes, lc.CACertsPEM)
		}
	})
	t.Run("service account", func(t *testing.T) {
		t.Parallel()
		tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
		lc, err := tr.LoginConfig(t.Context())
		if !errors.Is(err, sdk.ErrNoLogin) || lc != nil {
			t.Fatalf("LoginConfig = %+v, %v; want sdk.ErrNoLogin", lc, err)
		}
		if !strings.Contains(err.Error(), "service_account_file") {
			t.Errorf("error %q does not name service_account_file", err)
		}
	})
}
