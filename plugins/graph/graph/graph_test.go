package graph_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// diag is the part of a diagnostic the tests compare.
type diag struct {
	Severity  sdk.Severity
	Attribute string
	Summary   string
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
	cert, key := rsaCertificate(t)
	_, otherKey := rsaCertificate(t)
	certFile := pemFile(t, dir, "cert.pem", certBlock(cert))
	keyFile := pemFile(t, dir, "key.pem", keyBlock(t, key))
	otherKeyFile := pemFile(t, dir, "other-key.pem", keyBlock(t, otherKey))
	bothFile := pemFile(t, dir, "both.pem", certBlock(cert), keyBlock(t, key))

	base := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"tenant_id": tenant, "client_id": clientID, "client_secret": secret}
		if mut != nil {
			mut(m)
		}
		return m
	}
	certOnly := func(m map[string]any) { delete(m, "client_secret"); m["client_certificate"] = certFile }
	tests := []struct {
		name     string
		from     string
		settings map[string]any
		want     []diag
	}{
		{name: "defaults with a secret", settings: base(nil)},
		{name: "every setting", settings: base(func(m map[string]any) {
			m["authority"] = "https://login.microsoftonline.com/"
			m["graph_endpoint"] = "https://graph.microsoft.com/"
			m["save_to_sent_items"] = true
			m["ca_file"] = caFile
			m["token_grace"] = "1m"
			m["timeout"] = "10s"
		})},
		{name: "from with a display name", from: "Tocsin <" + mailbox + ">", settings: base(nil)},
		{name: "certificate and key", settings: base(func(m map[string]any) { certOnly(m); m["client_key"] = keyFile })},
		{name: "certificate holding its key", settings: base(func(m map[string]any) { certOnly(m); m["client_certificate"] = bothFile })},
		{
			name:     "from not an address",
			from:     "alerts",
			settings: base(nil),
			want:     []diag{{sdk.SeverityError, "", `The transport's from "alerts" is not a mail address`}},
		},
		{
			name:     "empty tenant_id and client_id",
			settings: base(func(m map[string]any) { m["tenant_id"] = " "; m["client_id"] = "" }),
			want: []diag{
				{sdk.SeverityError, "tenant_id", "tenant_id is empty"},
				{sdk.SeverityError, "client_id", "client_id is empty"},
			},
		},
		{
			name:     "no credential",
			settings: base(func(m map[string]any) { delete(m, "client_secret") }),
			want:     []diag{{sdk.SeverityError, "client_secret", "No credential: neither client_secret nor client_certificate is set"}},
		},
		{
			name:     "secret and certificate",
			settings: base(func(m map[string]any) { m["client_certificate"] = certFile; m["client_key"] = keyFile }),
			want:     []diag{{sdk.SeverityError, "client_certificate", "Both client_secret and client_certificate are set"}},
		},
		{
			name:     "key without certificate",
			settings: base(func(m map[string]any) { m["client_key"] = keyFile }),
			want:     []diag{{sdk.SeverityError, "client_key", "client_key is set without client_certificate"}},
		},
		{
			name:     "unreadable certificate",
			settings: base(func(m map[string]any) { certOnly(m); m["client_certificate"] = missing }),
			want:     []diag{{sdk.SeverityError, "client_certificate", "read client_certificate: open " + missing + ": no such file or directory"}},
		},
		{
			name:     "unreadable key",
			settings: base(func(m map[string]any) { certOnly(m); m["client_key"] = missing }),
			want:     []diag{{sdk.SeverityError, "client_key", "read client_key: open " + missing + ": no such file or directory"}},
		},
		{
			name:     "certificate file without a certificate",
			settings: base(func(m map[string]any) { certOnly(m); m["client_certificate"] = noPEM; m["client_key"] = keyFile }),
			want:     []diag{{sdk.SeverityError, "client_certificate", ""}},
		},
		{
			name:     "certificate without its key",
			settings: base(certOnly),
			want:     []diag{{sdk.SeverityError, "client_certificate", ""}},
		},
		{
			name:     "key of another certificate",
			settings: base(func(m map[string]any) { certOnly(m); m["client_key"] = otherKeyFile }),
			want:     []diag{{sdk.SeverityError, "client_key", ""}},
		},
		{
			name:     "authority without scheme",
			settings: base(func(m map[string]any) { m["authority"] = "login.microsoftonline.com" }),
			want:     []diag{{sdk.SeverityError, "authority", `authority "login.microsoftonline.com" is not a usable URL`}},
		},
		{
			name:     "authority over http",
			settings: base(func(m map[string]any) { m["authority"] = "http://login.example.test" }),
			want:     []diag{{sdk.SeverityError, "authority", `authority "http://login.example.test" is not https`}},
		},
		{
			name:     "graph_endpoint with a query",
			settings: base(func(m map[string]any) { m["graph_endpoint"] = "https://graph.microsoft.com/?x=1" }),
			want:     []diag{{sdk.SeverityError, "graph_endpoint", `graph_endpoint "https://graph.microsoft.com/?x=1" is not a usable URL`}},
		},
		{
			name:     "graph_endpoint not http",
			settings: base(func(m map[string]any) { m["graph_endpoint"] = "ftp://graph.microsoft.com" }),
			want:     []diag{{sdk.SeverityError, "graph_endpoint", `graph_endpoint "ftp://graph.microsoft.com" is not a usable URL`}},
		},
		{
			name:     "graph_endpoint over http warns",
			settings: base(func(m map[string]any) { m["graph_endpoint"] = "http://127.0.0.1:8080" }),
			want:     []diag{{sdk.SeverityWarning, "graph_endpoint", `graph_endpoint "http://127.0.0.1:8080" is not https`}},
		},
		{
			name:     "national cloud with the global authority warns",
			settings: base(func(m map[string]any) { m["graph_endpoint"] = "https://graph.microsoft.us" }),
			want:     []diag{{sdk.SeverityWarning, "authority", "authority does not match graph_endpoint's cloud"}},
		},
		{
			name: "national cloud with its authority",
			settings: base(func(m map[string]any) {
				m["graph_endpoint"] = "https://graph.microsoft.us"
				m["authority"] = "https://login.microsoftonline.us"
			}),
		},
		{
			name:     "missing ca_file",
			settings: base(func(m map[string]any) { m["ca_file"] = missing }),
			want:     []diag{{sdk.SeverityError, "ca_file", "read ca_file: open " + missing + ": no such file or directory"}},
		},
		{
			name:     "ca_file without a certificate",
			settings: base(func(m map[string]any) { m["ca_file"] = noPEM }),
			want:     []diag{{sdk.SeverityError, "ca_file", ""}},
		},
		{
			name:     "negative token_grace and zero timeout",
			settings: base(func(m map[string]any) { m["token_grace"] = "-1s"; m["timeout"] = "0s" }),
			want: []diag{
				{sdk.SeverityError, "token_grace", "token_grace -1s is negative"},
				{sdk.SeverityError, "timeout", "timeout 0s is not positive"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from := tt.from
			if from == "" {
				from = mailbox
			}
			var logs bytes.Buffer
			tr := graph.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{
				Transport: "m365",
				From:      from,
				Settings:  settingsOf(t, tt.settings),
				Logger:    hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace}),
			})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			var got []diag
			for i, d := range diags {
				x := diag{d.Severity, d.Attribute, d.Summary}
				// An empty wanted summary leaves the wording open.
				if i < len(tt.want) && tt.want[i].Summary == "" {
					x.Summary = ""
				}
				got = append(got, x)
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
				if strings.Contains(d.Summary+d.Detail, secret) {
					t.Errorf("diagnostic %q leaks the client secret", d.Summary)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log leaks the client secret:\n%s", logs.String())
			}
			if diags.HasErrors() {
				checkNotConfigured(t, tr)
			}
		})
	}
}

func TestTransport_Configure_undecodable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{name: "unknown setting", settings: map[string]any{"tenant_id": tenant, "tenantid": "x"}, want: `decode settings: json: unknown field "tenantid"`},
		{name: "wrong type", settings: map[string]any{"tenant_id": tenant, "save_to_sent_items": "yes"}, want: "decode settings: json: cannot unmarshal string into Go struct field settings.save_to_sent_items of type bool"},
		{name: "bad duration", settings: map[string]any{"tenant_id": tenant, "timeout": "soon"}, want: `decode settings: parse duration: time: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := graph.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "m365", From: mailbox, Settings: settingsOf(t, tt.settings)})
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
		checkNotConfigured(t, graph.New("test"))
	})
	t.Run("after a Configure with errors replaced a good one", func(t *testing.T) {
		tr := mustConfigure(t, map[string]any{"tenant_id": tenant, "client_id": clientID, "client_secret": secret})
		diags, err := tr.Configure(t.Context(), sdk.Config{From: mailbox, Settings: settingsOf(t, map[string]any{"tenant_id": tenant, "client_id": clientID})})
		if err != nil || !diags.HasErrors() {
			t.Fatalf("second Configure: %+v, %v; want error diagnostics", diags, err)
		}
		checkNotConfigured(t, tr)
	})
}

// checkNotConfigured checks that Send and Check refuse with the permanent
// not-configured error.
func checkNotConfigured(t *testing.T, tr *graph.Transport) {
	t.Helper()
	results, sendErr := tr.Send(t.Context(), []*sdk.Message{message("one@node")})
	if results != nil {
		t.Errorf("Send returned results %+v with its error", results)
	}
	for name, err := range map[string]error{"Check": tr.Check(t.Context()), "Send": sendErr} {
		var de *sdk.DeliveryError
		if !errors.As(err, &de) || de.Kind != sdk.Permanent || de.Err == nil || de.Err.Error() != "transport is not configured" || de.Remedy == "" {
			t.Errorf("%s error = %v, want permanent \"transport is not configured\" with a remedy", name, err)
		}
	}
}

func TestTransport_Describe(t *testing.T) {
	t.Parallel()
	d, err := graph.New("1.2.3").Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "graph" || d.Version != "1.2.3" || d.Batch || d.Summary == "" {
		t.Errorf("description = %+v", d)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	var sensitive, required []string
	for _, a := range d.Schema {
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
	// client_key holds a path, but the agent treats names with "key" as
	// secrets, and so must the schema; token_grace is a duration.
	if !slices.Equal(sensitive, []string{"client_secret", "client_key"}) {
		t.Errorf("sensitive attributes = %q", sensitive)
	}
	if !slices.Equal(required, []string{"tenant_id", "client_id"}) {
		t.Errorf("required attributes = %q", required)
	}
}

// TestSchema_acceptedByConfigure checks that every attribute the schema
// declares is a setting Configure takes, with a value of the declared type.
func TestSchema_acceptedByConfigure(t *testing.T) {
	t.Parallel()
	_, caFile := newCA(t)
	cert, key := rsaCertificate(t)
	dir := t.TempDir()
	sample := map[string]any{
		"tenant_id":          tenant,
		"client_id":          clientID,
		"client_secret":      nil, // one credential at a time: see below
		"client_certificate": pemFile(t, dir, "cert.pem", certBlock(cert)),
		"client_key":         pemFile(t, dir, "key.pem", keyBlock(t, key)),
		"authority":          "https://login.microsoftonline.com",
		"graph_endpoint":     "https://graph.microsoft.com",
		"save_to_sent_items": true,
		"ca_file":            caFile,
		"token_grace":        "45s",
		"timeout":            "20s",
	}
	var names, sampled []string
	for _, a := range graph.Schema {
		names = append(names, a.Name)
	}
	for k := range sample {
		sampled = append(sampled, k)
	}
	sort.Strings(names)
	sort.Strings(sampled)
	if !slices.Equal(names, sampled) {
		t.Fatalf("schema attributes %q, sample covers %q: update the sample", names, sampled)
	}
	withCert := map[string]any{}
	for k, v := range sample {
		if v != nil {
			withCert[k] = v
		}
	}
	if _, diags := configure(t, withCert); len(diags) != 0 {
		t.Errorf("certificate settings: diagnostics %+v", diags)
	}
	withSecret := map[string]any{"client_secret": secret}
	for k, v := range withCert {
		if k != "client_certificate" && k != "client_key" {
			withSecret[k] = v
		}
	}
	if _, diags := configure(t, withSecret); len(diags) != 0 {
		t.Errorf("secret settings: diagnostics %+v", diags)
	}
}

func TestScopeFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ endpoint, want string }{
		{"https://graph.microsoft.com", graph.Scope},
		{"https://127.0.0.1:8443", graph.Scope},
		{"https://graph.microsoft.us", "https://graph.microsoft.us/.default"},
		{"https://DOD-Graph.microsoft.us", "https://dod-graph.microsoft.us/.default"},
		{"https://microsoftgraph.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := graph.ScopeFor(u); got != tt.want {
			t.Errorf("ScopeFor(%s) = %q, want %q", tt.endpoint, got, tt.want)
		}
	}
}
