package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestWriteDiagnostics_Format(t *testing.T) {
	src := []byte("transport \"relay\" {\n  plugin = \"smtp-basic\"\n  config {\n    hots = \"smtp.example.com\"\n  }\n}\n")
	rng := hcl.Range{Filename: "testdata/x.hcl", Start: hcl.Pos{Line: 4, Column: 5, Byte: 57}, End: hcl.Pos{Line: 4, Column: 9, Byte: 61}}
	tests := []struct {
		name  string
		diags hcl.Diagnostics
		want  string
	}{
		{
			name: "error with source",
			diags: hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   `An argument named "hots" is not expected here. Did you mean "host"?`,
				Subject:  &rng,
			}},
			want: "Error: Unsupported argument\n\n" +
				"  on testdata/x.hcl:4:5:\n" +
				"     4:     hots = \"…\"\n\n" + // an unknown name's value is not shown

				"An argument named \"hots\" is not expected here. Did you mean \"host\"?\n\n",
		},
		{
			name: "warning without detail, file without source",
			diags: hcl.Diagnostics{{
				Severity: hcl.DiagWarning,
				Summary:  "Transport listed twice",
				Subject:  &hcl.Range{Filename: "other.hcl", Start: hcl.Pos{Line: 2, Column: 3}},
			}},
			want: "Warning: Transport listed twice\n\n  on other.hcl:2:3:\n\n",
		},
		{
			name:  "no subject",
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Something", Detail: "Details."}},
			want:  "Error: Something\n\nDetails.\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteDiagnostics(&b, map[string][]byte{"testdata/x.hcl": src}, tt.diags); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", b.String(), tt.want)
			}
		})
	}
}

// redactSchema makes a diagnostic at or next to every planted secret.
var redactSchema = sdk.Schema{
	{Name: "host", Type: sdk.TypeBool},
	{Name: "password", Type: sdk.TypeNumber, Sensitive: true},
	{Name: "assertion", Type: sdk.TypeString, Sensitive: true, OneOf: []string{"jwt"}},
}

func TestWriteDiagnostics_Redaction(t *testing.T) {
	const file = "testdata/redact/a-secrets.hcl"
	cfg, diags := loadWith("testdata/redact", nil)
	tr := cfg.Transport("relay")
	if tr == nil {
		t.Fatalf("transport not loaded: %v", diags)
	}
	decodeDiags := tr.DecodeSettings(redactSchema)
	pluginDiags := tr.PluginDiagnostics("", sdk.Diagnostics{
		{Severity: sdk.SeverityError, Attribute: "assertion", Summary: "Bad assertion PLANTED-assertion", Detail: "The assertion PLANTED-assertion has expired."},
		{Severity: sdk.SeverityWarning, Attribute: "password", Summary: "Weak password"},
	})
	heredoc := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "A diagnostic inside a heredoc",
		Subject:  &hcl.Range{Filename: file, Start: hcl.Pos{Line: 10, Column: 7, Byte: 0}, End: hcl.Pos{Line: 10, Column: 8}},
	}}
	// Fix the byte offset of the heredoc line from the source.
	src := cfg.Sources[file]
	heredoc[0].Subject.Start.Byte = bytes.Index(src, []byte("PLANTED-heredoc-line"))

	var all hcl.Diagnostics
	all = append(all, diags...)
	all = append(all, decodeDiags...)
	all = append(all, pluginDiags...)
	all = append(all, heredoc...)

	sameLines(t, "diagnostics", locations(all), []string{
		"testdata/redact/a-secrets.hcl:6:17: warning: Secret written in the configuration",
		"testdata/redact/a-secrets.hcl:7:17: warning: Secret written in the configuration",
		"testdata/redact/a-secrets.hcl:9:17: warning: Secret written in the configuration",
		"testdata/redact/a-secrets.hcl:12:35: warning: Secret written in the configuration",
		"testdata/redact/a-secrets.hcl:12:75: warning: Secret written in the configuration",
		"testdata/redact/b-broken.hcl:3:26: error: Invalid multi-line string",
		"testdata/redact/b-broken.hcl:3:26: error: Unterminated template string",
		"testdata/redact/b-broken.hcl:4:2: error: Invalid multi-line string",
		file + ":5:17: error: Incorrect attribute value type",
		file + ":6:17: error: Incorrect attribute value type",
		file + ":7:5: error: Unsupported argument",
		file + ":8:17: warning: Secret written in the configuration",
		file + ":8:17: error: Value not allowed",
		file + ":9:5: error: Unsupported argument",
		file + ":12:5: error: Unsupported argument",
		file + ":8:17: error: Bad assertion (sensitive)",
		file + ":6:17: warning: Weak password",
		file + ":10:7: error: A diagnostic inside a heredoc",
	})

	out := render(t, cfg, all)
	if strings.Contains(out, "PLANTED") {
		t.Errorf("a planted secret leaked:\n%s", out)
	}
	// Every diagnostic on a secret's line shows the line, redacted.
	for _, line := range []string{
		`     3:   token = (sensitive)`,
		`     6:     password  = (sensitive)`,
		`     7:     api_token = (sensitive) # a comment`,
		`     8:     assertion = (sensitive)`,
		`     9:     key_pem   = (sensitive)`,
		`    10: (sensitive)`,
		`    12:     extra     = { client_secret = (sensitive), "…" = (sensitive) }`,
		`Error: Bad assertion (sensitive)`,
		`The assertion (sensitive) has expired.`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q", line)
		}
	}
	golden(t, "testdata/golden/redaction.txt", []byte(out))

	// Without a Config only the argument names tell what is secret: the
	// schema-sensitive "assertion" is left out here.
	var named hcl.Diagnostics
	for _, d := range all {
		if d.Subject.Start.Line != 8 {
			named = append(named, d)
		}
	}
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, cfg.Sources, named); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "PLANTED") {
		t.Errorf("a planted secret leaked without a Config:\n%s", b.String())
	}
	if n := strings.Count(b.String(), "(sensitive)"); n < 6 {
		t.Errorf("only %d redactions without a Config:\n%s", n, b.String())
	}

	// A nil Config renders like the function.
	var nb bytes.Buffer
	if err := (*Config)(nil).WriteDiagnostics(&nb, named); err != nil {
		t.Fatal(err)
	}
	var nobody bytes.Buffer
	if err := WriteDiagnostics(&nobody, nil, named); err != nil {
		t.Fatal(err)
	}
	if nb.Len() == 0 || nb.String() != nobody.String() {
		t.Errorf("a nil Config renders:\n%s\nwant, as WriteDiagnostics without sources:\n%s", nb.String(), nobody.String())
	}
	// Without sources: every diagnostic at its place, no source line.
	for _, d := range named {
		if at := fmt.Sprintf("  on %s:%d:%d:\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column); !strings.Contains(nb.String(), at) {
			t.Errorf("a nil Config's output lacks %q", at)
		}
	}
	if lines := sourceLines(nb.String()); len(lines) > 0 {
		t.Errorf("a nil Config printed source lines: %q", lines)
	}
}
