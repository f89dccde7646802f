package basic_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const password = "correct horse battery staple"

func newCA(t *testing.T) (*testserver.CA, string) {
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

func settings(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure calls Configure on a new transport and fails the test on an
// error (not on diagnostics).
func configure(t *testing.T, m map[string]any) (*basic.Transport, sdk.Diagnostics) {
	t.Helper()
	tr := basic.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", From: "alerts@example.test", Settings: settings(t, m)})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return tr, diags
}

// closedPort returns a port on 127.0.0.1 where nothing listens, nor
// will while the test runs.
func closedPort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testserver.ClosedAddr(t))
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: "alerts@example.test"},
		To:      []sdk.Address{{Address: "ops@example.test"}},
		Subject: "disk full",
		Text:    "The disk is full.\n",
	}
}

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

// checkNotConfigured checks that Send and Check refuse with the permanent
// not-configured error.
func checkNotConfigured(t *testing.T, tr *basic.Transport) {
	t.Helper()
	for name, err := range map[string]error{
		"Check": tr.Check(t.Context()),
		"Send":  sendErr(t, tr),
	} {
		var de *sdk.DeliveryError
		if !errors.As(err, &de) {
			t.Errorf("%s error = %v, want a *sdk.DeliveryError", name, err)
			continue
		}
		if de.Kind != sdk.Permanent || de.Err == nil || de.Err.Error() != "transport is not configured" {
			t.Errorf("%s error = %v (kind %v), want permanent \"transport is not configured\"", name, err, de.Kind)
		}
		if de.Remedy == "" {
			t.Errorf("%s error has no remedy", name)
		}
	}
}

func sendErr(t *testing.T, tr *basic.Transport) error {
	t.Helper()
	results, err := tr.Send(t.Context(), []*sdk.Message{message("one@node")})
	if results != nil {
		t.Errorf("Send returned results %+v with its error", results)
	}
	return err
}

func TestTransport_Configure(t *testing.T) {
	t.Parallel()
	_, caFile := newCA(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	noPEM := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(noPEM, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	base := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"host": "smtp.example.test"}
		if mut != nil {
			mut(m)
		}
		return m
	}
	tests := []struct {
		name     string
		settings map[string]any
		want     []diag
	}{
		{name: "defaults", settings: base(nil)},
		{name: "every setting", settings: base(func(m map[string]any) {
			m["port"] = 2525
			m["security"] = "tls"
			m["auth"] = "login"
			m["username"] = "alice"
			m["password"] = password
			m["ca_file"] = caFile
			m["helo"] = "node.example.test"
			m["timeout"] = "10s"
			m["max_connections"] = 20
			m["idle_timeout"] = "5m"
		})},
		{
			name:     "no connection",
			settings: base(func(m map[string]any) { m["max_connections"] = 0 }),
			want:     []diag{{sdk.SeverityError, "max_connections", "Max connections 0 is out of range"}},
		},
		{
			name:     "too many connections",
			settings: base(func(m map[string]any) { m["max_connections"] = 21 }),
			want:     []diag{{sdk.SeverityError, "max_connections", "Max connections 21 is out of range"}},
		},
		{
			name:     "one connection",
			settings: base(func(m map[string]any) { m["max_connections"] = 1 }),
		},
		{
			name:     "zero idle timeout",
			settings: base(func(m map[string]any) { m["idle_timeout"] = "0s" }),
			want:     []diag{{sdk.SeverityError, "idle_timeout", "Idle timeout must be positive"}},
		},
		{
			name:     "port above range",
			settings: base(func(m map[string]any) { m["port"] = 65536 }),
			want:     []diag{{sdk.SeverityError, "port", "Port 65536 is out of range"}},
		},
		{
			name:     "negative port",
			settings: base(func(m map[string]any) { m["port"] = -25 }),
			want:     []diag{{sdk.SeverityError, "port", "Port -25 is out of range"}},
		},
		{
			name:     "highest port",
			settings: base(func(m map[string]any) { m["port"] = 65535 }),
		},
		{
			name:     "auth without username",
			settings: base(func(m map[string]any) { m["auth"] = "cram-md5"; m["password"] = password }),
			want:     []diag{{sdk.SeverityError, "username", `Username required for auth "cram-md5"`}},
		},
		{
			name: "password over plain SMTP refused",
			settings: base(func(m map[string]any) {
				m["security"] = "none"
				m["username"] = "alice"
				m["password"] = password
			}),
			want: []diag{{sdk.SeverityError, "security", "Refusing to send a password over a connection without TLS"}},
		},
		{
			name: "password over plain SMTP with allow_insecure_auth",
			settings: base(func(m map[string]any) {
				m["security"] = "none"
				m["username"] = "alice"
				m["password"] = password
				m["allow_insecure_auth"] = true
			}),
		},
		{
			name:     "plain SMTP without a login needs no allow_insecure_auth",
			settings: base(func(m map[string]any) { m["security"] = "none"; m["auth"] = "none" }),
		},
		{
			name: "several errors at once",
			settings: base(func(m map[string]any) {
				m["security"] = "none"
				m["auth"] = "plain"
				m["port"] = 0x10000
			}),
			want: []diag{
				{sdk.SeverityError, "port", "Port 65536 is out of range"},
				{sdk.SeverityError, "username", `Username required for auth "plain"`},
				{sdk.SeverityError, "security", "Refusing to send a password over a connection without TLS"},
			},
		},
		{
			name:     "password without auth",
			settings: base(func(m map[string]any) { m["auth"] = "none"; m["username"] = "alice"; m["password"] = password }),
			want:     []diag{{sdk.SeverityWarning, "password", "Password set but not used"}},
		},
		{
			name:     "password without username",
			settings: base(func(m map[string]any) { m["password"] = password }),
			want:     []diag{{sdk.SeverityWarning, "password", "Password set but not used"}},
		},
		{
			name:     "tls_skip_verify",
			settings: base(func(m map[string]any) { m["tls_skip_verify"] = true }),
			want:     []diag{{sdk.SeverityWarning, "tls_skip_verify", "Certificate verification is OFF"}},
		},
		{
			name:     "missing ca_file",
			settings: base(func(m map[string]any) { m["ca_file"] = missing }),
			want:     []diag{{sdk.SeverityError, "ca_file", "read ca_file: open " + missing + ": no such file or directory"}},
		},
		{
			name:     "ca_file without a certificate",
			settings: base(func(m map[string]any) { m["ca_file"] = noPEM }),
			want:     []diag{{sdk.SeverityError, "ca_file", "ca_file " + noPEM + " holds no PEM certificate"}},
		},
		{
			name:     "warning and error together",
			settings: base(func(m map[string]any) { m["tls_skip_verify"] = true; m["ca_file"] = missing }),
			want: []diag{
				{sdk.SeverityWarning, "tls_skip_verify", "Certificate verification is OFF"},
				{sdk.SeverityError, "ca_file", "read ca_file: open " + missing + ": no such file or directory"},
			},
		},
		{
			// The agent only checks that a required setting is present, so
			// host = "" reaches the plugin.
			name:     "empty host",
			settings: base(func(m map[string]any) { m["host"] = ""; m["ca_file"] = caFile }),
			want:     []diag{{sdk.SeverityError, "host", ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logBuf bytes.Buffer
			logger := hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Trace})
			tr := basic.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", From: "alerts@example.test", Settings: settings(t, tt.settings), Logger: logger})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			got := diagsOf(diags)
			for i := range got {
				// An empty wanted summary leaves the wording open.
				if i < len(tt.want) && tt.want[i].Summary == "" {
					got[i].Summary = ""
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
			for _, d := range diags {
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
				if strings.Contains(d.Summary+d.Detail, password) {
					t.Errorf("diagnostic %q leaks the password", d.Summary)
				}
			}
			if strings.Contains(logBuf.String(), password) {
				t.Errorf("log leaks the password:\n%s", logBuf.String())
			}
			if diags.HasErrors() {
				checkNotConfigured(t, tr)
			}
		})
	}
}

func TestTransport_Configure_skipVerifyLogs(t *testing.T) {
	t.Parallel()
	var logBuf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Warn})
	tr := basic.New("test")
	_, err := tr.Configure(t.Context(), sdk.Config{
		Transport: "relay",
		Settings:  settings(t, map[string]any{"host": "smtp.example.test", "tls_skip_verify": true}),
		Logger:    logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := logBuf.String(); !strings.Contains(got, "[WARN]") || !strings.Contains(got, "TLS certificate verification is OFF") || !strings.Contains(got, "host=smtp.example.test") {
		t.Errorf("log = %q, want a warning about verification naming the host", got)
	}
}

func TestTransport_Configure_undecodable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{name: "unknown setting", settings: map[string]any{"host": "smtp.example.test", "hots": "x"}, want: `decode settings: json: unknown field "hots"`},
		{name: "wrong type", settings: map[string]any{"host": "smtp.example.test", "port": "587"}, want: "decode settings: json: cannot unmarshal string into Go struct field settings.port of type int"},
		{name: "bad duration", settings: map[string]any{"host": "smtp.example.test", "timeout": "soon"}, want: `decode settings: parse duration: time: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := basic.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", Settings: settings(t, tt.settings)})
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
		checkNotConfigured(t, basic.New("test"))
	})
	t.Run("after a Configure with errors replaced a good one", func(t *testing.T) {
		tr, diags := configure(t, map[string]any{"host": "smtp.example.test"})
		if diags.HasErrors() {
			t.Fatalf("first Configure: %+v", diags)
		}
		diags, err := tr.Configure(t.Context(), sdk.Config{Settings: settings(t, map[string]any{"host": "smtp.example.test", "port": 0x10000})})
		if err != nil || !diags.HasErrors() {
			t.Fatalf("second Configure: %+v, %v; want error diagnostics", diags, err)
		}
		checkNotConfigured(t, tr)
	})
	t.Run("after an undecodable Configure replaced a good one", func(t *testing.T) {
		// Nothing listens there, should the old settings still be used.
		tr, diags := configure(t, map[string]any{"host": "127.0.0.1", "port": closedPort(t), "security": "none"})
		if diags.HasErrors() {
			t.Fatalf("first Configure: %+v", diags)
		}
		if _, err := tr.Configure(t.Context(), sdk.Config{Settings: settings(t, map[string]any{"hots": "typo"})}); err == nil {
			t.Fatal("second Configure accepted an unknown setting")
		}
		checkNotConfigured(t, tr)
	})
}

// TestTransport_defaultPort checks the port used when none is set. Check
// runs with a context that has already ended, so nothing is dialled; the
// dial error names the address.
func TestTransport_defaultPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		security string
		want     string
	}{
		{name: "starttls by default", security: "", want: "127.0.0.1:587"},
		{name: "starttls", security: "starttls", want: "127.0.0.1:587"},
		{name: "none", security: "none", want: "127.0.0.1:25"},
		{name: "tls", security: "tls", want: "127.0.0.1:465"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]any{"host": "127.0.0.1"}
			if tt.security != "" {
				m["security"] = tt.security
			}
			tr, diags := configure(t, m)
			if len(diags) != 0 {
				t.Fatalf("diagnostics: %+v", diags)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := tr.Check(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Check error = %v, want one wrapping context.Canceled", err)
			}
			if !strings.Contains(err.Error(), tt.want+":") {
				t.Errorf("Check error %q does not name %s", err, tt.want)
			}
		})
	}
}

// TestTransport_Send checks the security and auth defaults against a real
// SMTP server.
func TestTransport_Send(t *testing.T) {
	t.Parallel()
	ca, caFile := newCA(t)
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"alice": password}
	tests := []struct {
		name     string
		server   testserver.Options
		settings map[string]any
		wantTLS  bool
		wantUser string
		wantMech string
	}{
		{
			name:     "default security is starttls, default auth with a username is plain",
			server:   testserver.Options{TLS: tlsConfig, Users: users},
			settings: map[string]any{"ca_file": caFile, "username": "alice", "password": password},
			wantTLS:  true, wantUser: "alice", wantMech: testserver.MechPlain,
		},
		{
			name:     "default auth without a username is none",
			server:   testserver.Options{TLS: tlsConfig},
			settings: map[string]any{"ca_file": caFile},
			wantTLS:  true,
		},
		{
			name:     "implicit TLS with login",
			server:   testserver.Options{TLS: tlsConfig, Implicit: true, Users: users},
			settings: map[string]any{"security": "tls", "ca_file": caFile, "auth": "login", "username": "alice", "password": password},
			wantTLS:  true, wantUser: "alice", wantMech: testserver.MechLogin,
		},
		{
			// PLAIN refuses a connection it does not see as TLS: the
			// connection Tocsin dials itself must still look like one.
			name:     "implicit TLS with plain",
			server:   testserver.Options{TLS: tlsConfig, Implicit: true, Users: users},
			settings: map[string]any{"security": "tls", "ca_file": caFile, "auth": "plain", "username": "alice", "password": password},
			wantTLS:  true, wantUser: "alice", wantMech: testserver.MechPlain,
		},
		{
			name:     "plain SMTP with allow_insecure_auth",
			server:   testserver.Options{Users: users, AllowInsecureAuth: true},
			settings: map[string]any{"security": "none", "username": "alice", "password": password, "allow_insecure_auth": true},
			wantUser: "alice", wantMech: testserver.MechPlain,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.StartT(t, tt.server)
			m := map[string]any{"host": srv.Host(), "port": srv.Port(), "timeout": "20s"}
			for k, v := range tt.settings {
				m[k] = v
			}
			tr, diags := configure(t, m)
			if len(diags) != 0 {
				t.Fatalf("diagnostics: %+v", diags)
			}
			if err := tr.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			results, err := tr.Send(t.Context(), []*sdk.Message{message("one@node")})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(results) != 1 || results[0].Err != nil || results[0].Receipt == "" {
				t.Fatalf("results = %+v, want one receipt", results)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages", len(got))
			}
			r := got[0]
			if r.TLS != tt.wantTLS || r.User != tt.wantUser || r.Mechanism != tt.wantMech {
				t.Errorf("TLS %v, user %q, mechanism %q; want %v, %q, %q", r.TLS, r.User, r.Mechanism, tt.wantTLS, tt.wantUser, tt.wantMech)
			}
			if !bytes.Contains(r.Data, []byte("User-Agent: Tocsin smtp-basic/test\r\n")) {
				t.Errorf("no User-Agent naming the plugin in:\n%s", r.Data)
			}
		})
	}
}

func TestTransport_Describe(t *testing.T) {
	t.Parallel()
	d, err := basic.New("1.2.3").Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "smtp-basic" || d.Version != "1.2.3" || !d.Batch || d.Summary == "" {
		t.Errorf("description = %+v", d)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	var sensitive []string
	for _, a := range d.Schema {
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if a.Sensitive {
			sensitive = append(sensitive, a.Name)
		}
	}
	if !slices.Equal(sensitive, []string{"password"}) {
		t.Errorf("sensitive attributes = %q, want only password", sensitive)
	}
	if host, ok := d.Schema.Lookup("host"); !ok || !host.Required {
		t.Errorf("host = %+v, want a required attribute", host)
	}
}

// TestSchema_acceptedByConfigure checks that every attribute the schema
// declares is a setting Configure takes, with a value of the declared type.
func TestSchema_acceptedByConfigure(t *testing.T) {
	t.Parallel()
	_, caFile := newCA(t)
	sample := map[string]any{
		"host":                "smtp.example.test",
		"port":                587,
		"security":            "starttls",
		"auth":                "plain",
		"username":            "alice",
		"password":            password,
		"ca_file":             caFile,
		"tls_skip_verify":     false,
		"allow_insecure_auth": false,
		"helo":                "node.example.test",
		"timeout":             "10s",
		"max_connections":     2,
		"idle_timeout":        "10s",
	}
	var names, sampled []string
	for _, a := range basic.Schema {
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
		case sdk.TypeBool:
			_, typeOK = v.(bool)
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
	_, diags := configure(t, sample)
	if diags.HasErrors() {
		t.Errorf("diagnostics: %+v", diags)
	}
}
