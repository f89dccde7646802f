package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// interpRepro is finding 3 of issue 11: "${" 8,000 times in one string.
func interpRepro() string {
	return "agent {\n  node = \"" + strings.Repeat("${", 8000) + "\"\n}\n"
}

// invalidRepro makes one diagnostic per character of a 16 KB line, as
// finding 3 had: 8,000 no-break spaces.
func invalidRepro() string {
	return "agent {\n  node = " + strings.Repeat("\u00a0", 8000) + "\n}\n"
}

// TestWriteDiagnostics_RepeatedDiagnosticsAreCapped: the 8,000 "${" of
// finding 3 printed 129 MB; now a few diagnostics, each line cut to a
// window, and one "and N more like this".
func TestWriteDiagnostics_RepeatedDiagnosticsAreCapped(t *testing.T) {
	for name, src := range map[string]string{"interpolations": interpRepro(), "invalid characters": invalidRepro()} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, src)
			cfg, diags := loadWith(path, nil)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			out := render(t, cfg, diags)
			t.Logf("%d diagnostics rendered as %d bytes", len(diags), len(out))
			if len(out) > 16<<10 {
				t.Errorf("%d diagnostics rendered as %d bytes; want at most 16 KiB", len(diags), len(out))
			}
			if len(diags) > maxSameDiagnostics && !strings.Contains(out, "more like this in "+path) {
				t.Errorf("%d diagnostics and no \"more like this\" line:\n%s", len(diags), out)
			}
			for _, l := range sourceLines(out) {
				if n := len([]rune(l)); n > maxShownWidth+20 {
					t.Errorf("a printed source line is %d characters wide: %.200q", n, l)
				}
			}
		})
	}
}

// sourceLines returns the source lines of rendered diagnostics.
func sourceLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if n, _, ok := strings.Cut(l, ": "); ok && strings.TrimLeft(strings.TrimSpace(n), "0123456789") == "" && strings.TrimSpace(n) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestWriteDiagnostics_WideLineWindow: a wide line is shown around the
// column, with "…" where it is cut, and redaction still applies.
func TestWriteDiagnostics_WideLineWindow(t *testing.T) {
	src := "agent {\n  node = \"" + strings.Repeat("a", 5000) + "\" + 1 + \"" + strings.Repeat("b", 5000) + "\"\n  data_dir = \"d\"\n}\n" +
		"transport \"x\" {\n  plugin = \"p\"\n  from = \"a@b.c\"\n  config {\n    password = \"" + strings.Repeat("S", 3000) + "PLANTED\" ; x\n  }\n}\n"
	path := writeConfig(t, src)
	cfg, diags := loadWith(path, nil)
	out := render(t, cfg, diags)
	if !strings.Contains(out, "…") {
		t.Errorf("no ellipsis in:\n%s", out)
	}
	if strings.Contains(out, "PLANTED") || strings.Contains(out, "SSSS") {
		t.Errorf("the secret is printed:\n%s", out)
	}
	if len(sourceLines(out)) == 0 {
		t.Errorf("no source line in:\n%s", out)
	}
	for _, l := range sourceLines(out) {
		if n := len([]rune(l)); n > maxShownWidth+20 {
			t.Errorf("a printed source line is %d characters wide", n)
		}
	}
}

// TestWriteDiagnostics_MangledSecretNames plants a password under each
// mangled form of finding 4 and greps the whole output for it.
func TestWriteDiagnostics_MangledSecretNames(t *testing.T) {
	const planted = "hunter2-PLANTED-value"
	for _, tc := range []struct{ name, line string }{
		{"no-break space before =", "password\u00a0= \"" + planted + "\""},
		{"no =", "password \"" + planted + "\""},
		{"zero-width space after =", "password =\u200b \"" + planted + "\""},
		{"pasword", "pasword = \"" + planted + "\""},
		{"passwd", "passwd = \"" + planted + "\""},
		{"pass", "pass = \"" + planted + "\""},
		{"secert", "secert = \"" + planted + "\""},
		{"unquoted", "password = " + planted},
		{"heredoc in a broken file", "password = <<EOT\n" + planted + "\nEOT\n  x = = 1"},
		{"split string", "password = \"" + planted + "\n\""},
		{"escaped quote", "password = \"a\\\"" + planted + "\" x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, where := range []string{"agent", "transport"} {
				var src string
				if where == "agent" {
					src = "agent {\n  " + tc.line + "\n}\n"
				} else {
					src = "transport \"relay\" {\n  plugin = \"smtp-basic\"\n  from = \"a@example.com\"\n  config {\n    " + tc.line + "\n  }\n}\n"
				}
				path := writeConfig(t, src)
				cfg, diags := loadWith(path, nil)
				for _, tr := range cfg.Transports {
					diags = append(diags, tr.DecodeSettings(fakeSchema)...)
				}
				if len(diags) == 0 {
					t.Fatalf("%s: no diagnostic", where)
				}
				var b1, b2 bytes.Buffer
				_ = cfg.WriteDiagnostics(&b1, diags)
				_ = WriteDiagnostics(&b2, cfg.Sources, diags)
				for _, out := range []string{b1.String(), b2.String()} {
					if strings.Contains(out, "hunter2") || strings.Contains(out, "PLANTED") {
						t.Errorf("%s: the planted value is printed:\n%s", where, out)
					}
				}
			}
		})
	}
}

// TestWriteDiagnostics_FileContentsNotEchoed: what file() reads into a
// setting that is not secret is not echoed by its diagnostics.
func TestWriteDiagnostics_FileContentsNotEchoed(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "environ")
	if err := os.WriteFile(secret, []byte("HOME=/root\x00API_TOKEN=PLANTED-env-token\x00PATH=/bin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
agent {
  log_level = file("`+secret+`")
  listen    = file("`+secret+`")
  node      = trimspace(file("`+secret+`"))
  data_dir  = "d"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    security = file("`+secret+`")
    timeout  = file("`+secret+`")
    host     = 1
  }
}
check "c" {
  tcp   = "127.0.0.1:1"
  every = file("`+secret+`")
}
`)
	cfg, diags := loadWith(path, nil)
	for _, tr := range cfg.Transports {
		diags = append(diags, tr.DecodeSettings(fakeSchema)...)
	}
	out := render(t, cfg, diags)
	if !strings.Contains(out, "log level") {
		t.Fatalf("no log level diagnostic:\n%s", out)
	}
	if strings.Contains(out, "PLANTED") || strings.Contains(out, "API_TOKEN") {
		t.Errorf("file contents are echoed:\n%s", out)
	}
}

// BenchmarkWriteDiagnostics_Interp8000 loads and renders finding 3's
// reproduction (24 s and 129 MB before).
func BenchmarkWriteDiagnostics_Interp8000(b *testing.B) { benchRender(b, interpRepro()) }

// BenchmarkWriteDiagnostics_Invalid8000 loads and renders 8,000 invalid
// characters on one line: 8,001 diagnostics.
func BenchmarkWriteDiagnostics_Invalid8000(b *testing.B) { benchRender(b, invalidRepro()) }

func benchRender(b *testing.B, src string) {
	path := filepath.Join(b.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := loadWith(path, nil)
		var out bytes.Buffer
		if err := cfg.WriteDiagnostics(&out, diags); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(out.Len()), "out-bytes")
	}
}

// TestLoad_LiteralSecretWarns: a secret written as a plain string gets a
// warning at its file:line:col that suggests env() or file(); read from
// the environment or a file, or templated, it does not.
func TestLoad_LiteralSecretWarns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("from-a-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a.hcl")
	src := `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host      = "smtp.example.com"
    password  = "hunter2-PLANTED"
    assertion = "PLANTED-assertion"
  }
}
transport "other" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host      = "smtp.example.com"
    password  = env("SMTP_PASSWORD")
    assertion = file("pw")
  }
}
check "api" {
  http    = "https://127.0.0.1/"
  headers = { "X-Api-Key" = "PLANTED-key", Accept = "text/plain", "X-Auth-Token" = "${env("TOKEN")}" }
}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := loadWith(path, map[string]string{"SMTP_PASSWORD": "x", "TOKEN": "y"})
	for _, tr := range cfg.Transports {
		diags = append(diags, tr.DecodeSettings(fakeSchema)...)
	}
	sameLines(t, "diagnostics", locations(diags), []string{
		path + ":6:17: warning: Secret written in the configuration",
		path + ":21:29: warning: Secret written in the configuration",
		path + ":7:17: warning: Secret written in the configuration", // from the schema

	})
	out := render(t, cfg, diags)
	if !strings.Contains(out, `password = env("TOCSIN_PASSWORD")`) || !strings.Contains(out, "file(") {
		t.Errorf("the warning does not suggest env() and file():\n%s", out)
	}
	if strings.Contains(out, "PLANTED") {
		t.Errorf("the warning prints the secret:\n%s", out)
	}
}

// TestWriteDiagnostics_DecodedSecretsScrubbed: the value of a sensitive
// setting read from the environment is nowhere in the source, so only
// the decoded value can find it in a message. A diagnostic that quotes it
// (a plugin's error text, as the agent wraps it on start and reload) is
// printed with "(sensitive)" in its place: in the summary, the detail and
// the "more like this" line, for every transport's secrets.
func TestWriteDiagnostics_DecodedSecretsScrubbed(t *testing.T) {
	const (
		password = "PLANTED-env-password"
		listed   = "PLANTED-listed-token"
		other    = "PLANTED-other-assertion"
	)
	path := writeConfig(t, `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host     = "smtp.example.com"
    password = env("SMTP_PASSWORD")
    tokens   = ["t1-not-secret-here", env("TOKEN")]
  }
}
transport "graph" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host      = "smtp.example.com"
    assertion = env("ASSERTION")
  }
}
`)
	cfg, diags := loadWith(path, map[string]string{"SMTP_PASSWORD": password, "TOKEN": listed, "ASSERTION": other})
	if len(diags) > 0 {
		t.Fatalf("Load: %v", locations(diags))
	}
	schema := sdk.Schema{
		{Name: "host", Type: sdk.TypeString},
		{Name: "password", Type: sdk.TypeString, Sensitive: true},
		{Name: "assertion", Type: sdk.TypeString, Sensitive: true},
		{Name: "tokens", Type: sdk.TypeListOfString, Sensitive: true},
	}
	for _, tr := range cfg.Transports {
		if d := tr.DecodeSettings(schema); len(d) > 0 {
			t.Fatalf("DecodeSettings(%s): %v", tr.Name, locations(d))
		}
	}
	relay := cfg.Transport("relay").PluginRange
	quoting := func(summary, detail string) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: relay.Ptr()}
	}
	tests := []struct {
		name  string
		diags hcl.Diagnostics
		want  []string // lines the output has
	}{
		{
			name:  "in the summary",
			diags: hcl.Diagnostics{quoting("Login refused for "+password, "")},
			want:  []string{"Error: Login refused for (sensitive)"},
		},
		{
			name: "in the detail, as a configure error",
			diags: hcl.Diagnostics{quoting("Plugin failed to configure",
				`The smtp-basic plugin of transport "relay" failed: rpc error: code = Unknown desc = 535 bad password "`+password+`"`)},
			want: []string{`failed: rpc error: code = Unknown desc = 535 bad password "(sensitive)"`},
		},
		{
			name:  "an element of a sensitive list",
			diags: hcl.Diagnostics{quoting("Token "+listed+" expired", "The token "+listed+" expired.")},
			want:  []string{"Error: Token (sensitive) expired", "The token (sensitive) expired."},
		},
		{
			name:  "another transport's secret",
			diags: hcl.Diagnostics{quoting("Assertion "+other+" refused", "Assertion "+other+" refused.")},
			want:  []string{"Error: Assertion (sensitive) refused", "Assertion (sensitive) refused."},
		},
		{
			name: "beyond the cap on like diagnostics",
			diags: func() hcl.Diagnostics {
				var ds hcl.Diagnostics
				for range maxSameDiagnostics + 2 {
					ds = append(ds, quoting("Login refused for "+password, "Again."))
				}
				return ds
			}(),
			want: []string{"Error: Login refused for (sensitive): and 2 more like this in " + path + ", not shown."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, cfg, tt.diags)
			if strings.Contains(out, "PLANTED") {
				t.Errorf("a decoded secret is printed:\n%s", out)
			}
			for _, line := range tt.want {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("output lacks the line %q:\n%s", line, out)
				}
			}
		})
	}
}
