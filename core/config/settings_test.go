package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeSchema is the schema of an imaginary SMTP plugin.
var fakeSchema = sdk.Schema{
	{Name: "host", Type: sdk.TypeString, Required: true, Description: "SMTP server host name"},
	{Name: "port", Type: sdk.TypeNumber},
	{Name: "security", Type: sdk.TypeString, OneOf: []string{"none", "starttls", "tls"}},
	{Name: "timeout", Type: sdk.TypeDuration},
	{Name: "cc", Type: sdk.TypeListOfString},
	{Name: "verify_tls", Type: sdk.TypeBool},
	{Name: "password", Type: sdk.TypeString, Sensitive: true},
	{Name: "assertion", Type: sdk.TypeString, Sensitive: true},
	{Name: "helo", Type: sdk.TypeString},
}

// loadSettings loads testdata/settings without errors.
func loadSettings(t *testing.T) *Config {
	t.Helper()
	cfg, diags := loadWith("testdata/settings", map[string]string{"TOCSIN_TEST_PASSWORD": "hunter2-from-env"})
	if len(diags) > 0 {
		t.Fatalf("Load: %s", render(t, cfg, diags))
	}
	return cfg
}

func TestTransport_DecodeSettings(t *testing.T) {
	const file = "testdata/settings/transports.hcl"
	tests := []struct {
		name      string
		transport string
		schema    sdk.Schema
		want      []string // diagnostics
		json      string   // settings on success
		details   []string // text the rendered output must hold
	}{
		{
			name:      "success",
			transport: "ok",
			json:      `{"assertion":"eyJhbGciOi.assertion","cc":["a@example.com","b@example.com"],"host":"smtp.example.com","password":"hunter2-from-env","port":587,"security":"starttls","timeout":"1m30s","verify_tls":true}`,
		},
		{
			name:      "only the required setting",
			transport: "minimal",
			json:      `{"host":"smtp.example.com"}`,
		},
		{
			name:      "no config block and nothing required",
			transport: "no_config",
			schema:    sdk.Schema{{Name: "port", Type: sdk.TypeNumber}},
			json:      `{}`,
		},
		{
			name:      "unknown argument with suggestion",
			transport: "unknown_argument",
			want: []string{
				file + ":28:3: error: Missing required argument",
				file + ":29:5: error: Unsupported argument",
				file + ":30:5: error: Unsupported argument",
			},
			details: []string{
				`An argument named "hots" is not expected here. Did you mean "host"? The fake-smtp plugin takes: host, port, security, timeout, cc, verify_tls, password, assertion, helo.`,
				`The fake-smtp plugin requires the argument "host" (SMTP server host name).`,
			},
		},
		{
			name:      "wrong types",
			transport: "wrong_type",
			want: []string{
				file + ":39:18: error: Incorrect attribute value type",
				file + ":40:18: error: Incorrect attribute value type",
				file + ":41:18: error: Incorrect attribute value type",
			},
			details: []string{
				`Inappropriate value for attribute "port": a number is required. The fake-smtp plugin takes a number for "port".`,
				`The fake-smtp plugin takes true or false for "verify_tls".`,
				`The fake-smtp plugin takes a list of strings for "cc".`,
			},
		},
		{
			name:      "missing required",
			transport: "missing_required",
			want:      []string{file + ":48:3: error: Missing required argument"},
		},
		{
			name:      "required set to null",
			transport: "null_required",
			want:      []string{file + ":57:12: error: Missing required argument"},
			details:   []string{"null does not set it"},
		},
		{
			name:      "bad duration",
			transport: "bad_duration",
			want:      []string{file + ":66:15: error: Invalid duration"},
			details:   []string{`The fake-smtp plugin takes a duration for "timeout", such as "30s", "5m" or "1h30m"; time: unknown unit " seconds" in duration "30 seconds".`},
		},
		{
			name:      "one_of violation",
			transport: "one_of",
			want:      []string{file + ":75:16: error: Value not allowed"},
			details:   []string{`The fake-smtp plugin accepts one of "none", "starttls" or "tls" for "security", not "startls". Did you mean "starttls"?`},
		},
		{
			name:      "missing config block",
			transport: "no_config",
			want:      []string{file + ":79:1: error: Missing config block"},
			details:   []string{`The fake-smtp plugin needs a config block that sets "host".`},
		},
		{
			name:      "nested block",
			transport: "nested_block",
			want:      []string{file + ":89:5: error: Unsupported block type"},
			details:   []string{"A config block holds arguments only."},
		},
		{
			name:      "unset environment variable",
			transport: "unset_env",
			want: []string{
				file + ":99:12: error: Error in function call",
			},
		},
		{
			name:      "invalid schema",
			transport: "minimal",
			schema:    sdk.Schema{{Name: "host", Type: sdk.TypeString}, {Name: "host", Type: sdk.TypeNumber}},
			want:      []string{file + ":18:12: error: Invalid plugin schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadSettings(t)
			tr := cfg.Transport(tt.transport)
			if tr == nil {
				t.Fatalf("no transport %q", tt.transport)
			}
			schema := tt.schema
			if schema == nil {
				schema = fakeSchema
			}
			diags := tr.DecodeSettings(schema)
			sameLines(t, "diagnostics", locations(diags), tt.want)
			out := render(t, cfg, diags)
			for _, d := range tt.details {
				if !strings.Contains(out, d) {
					t.Errorf("output lacks %q:\n%s", d, out)
				}
			}
			if tt.json != "" {
				if got := string(tr.Settings.JSON()); got != tt.json {
					t.Errorf("Settings = %s\nwant       %s", got, tt.json)
				}
			} else if got := string(tr.Settings.JSON()); got != "{}" {
				t.Errorf("Settings were set despite errors: %s", got)
			}
			if len(tt.want) > 0 {
				golden(t, "testdata/golden/settings-"+strings.ReplaceAll(tt.name, " ", "_")+".txt", []byte(out))
			}
		})
	}
}

func TestTransport_PluginDiagnostics(t *testing.T) {
	const file = "testdata/settings/transports.hcl"
	tests := []struct {
		name      string
		transport string
		plugin    string
		diag      sdk.Diagnostic
		where     string
		severity  hcl.DiagnosticSeverity
		detail    string
	}{
		{
			name:      "attribute that is set",
			transport: "ok",
			diag:      sdk.Diagnostic{Severity: sdk.SeverityError, Attribute: "port", Summary: "Port 587 needs STARTTLS", Detail: "Set security = \"starttls\"."},
			where:     file + ":6:18",
			severity:  hcl.DiagError,
			detail:    "Set security = \"starttls\".\n\nReported by the fake-smtp plugin for transport \"ok\".",
		},
		{
			name:      "attribute that is not set",
			transport: "minimal",
			plugin:    "smtp-basic",
			diag:      sdk.Diagnostic{Severity: sdk.SeverityError, Attribute: "password", Summary: "A password is needed"},
			where:     file + ":20:3",
			severity:  hcl.DiagError,
			detail:    "Reported by the smtp-basic plugin for transport \"minimal\", about the setting \"password\", which is not set.",
		},
		{
			name:      "whole block, as a warning",
			transport: "ok",
			diag:      sdk.Diagnostic{Severity: sdk.SeverityWarning, Summary: "TLS verification is off"},
			where:     file + ":4:3",
			severity:  hcl.DiagWarning,
			detail:    "Reported by the fake-smtp plugin for transport \"ok\".",
		},
		{
			name:      "no config block",
			transport: "no_config",
			diag:      sdk.Diagnostic{Severity: sdk.SeverityError, Attribute: "host", Summary: "No host"},
			where:     file + ":79:1",
			severity:  hcl.DiagError,
			detail:    "Reported by the fake-smtp plugin for transport \"no_config\", about the setting \"host\", which is not set.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadSettings(t)
			tr := cfg.Transport(tt.transport)
			diags := tr.PluginDiagnostics(tt.plugin, sdk.Diagnostics{tt.diag})
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics", len(diags))
			}
			d := diags[0]
			if d.Subject == nil || where(*d.Subject) != tt.where {
				t.Errorf("subject = %v, want %s", d.Subject, tt.where)
			}
			if d.Severity != tt.severity || d.Summary != tt.diag.Summary || d.Detail != tt.detail {
				t.Errorf("diagnostic = %v %q %q, want %v %q %q", d.Severity, d.Summary, d.Detail, tt.severity, tt.diag.Summary, tt.detail)
			}
		})
	}
}

func TestTransport_DecodeSettings_Concurrent(t *testing.T) {
	cfg := loadSettings(t)
	done := make(chan hcl.Diagnostics)
	for _, tr := range cfg.Transports {
		go func() { done <- tr.DecodeSettings(fakeSchema) }()
	}
	var all hcl.Diagnostics
	for range cfg.Transports {
		all = append(all, <-done...)
	}
	if !all.HasErrors() {
		t.Fatal("the broken transports reported nothing")
	}
	if out := render(t, cfg, all); strings.Contains(out, "hunter2-from-env") {
		t.Errorf("a secret leaked:\n%s", out)
	}
	if got := cfg.Transport("minimal").Settings.JSON(); string(got) != `{"host":"smtp.example.com"}` {
		t.Errorf("minimal settings = %s", got)
	}
}
