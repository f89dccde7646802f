package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// lineDiag is an error diagnostic on line n of file, at column col.
func lineDiag(file string, n, col int, summary string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Subject:  &hcl.Range{Filename: file, Start: hcl.Pos{Line: n, Column: col}, End: hcl.Pos{Line: n, Column: col + 1}},
	}
}

// renderBoth renders diags with cfg and, as when there is no Config,
// with its sources only.
func renderBoth(t *testing.T, cfg *Config, diags hcl.Diagnostics) map[string]string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, cfg.Sources, diags); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"with the Config": render(t, cfg, diags), "without a Config": b.String()}
}

// TestWriteDiagnostics_SecretLookingNamesHidden: where no schema says
// what is secret, a value is hidden when its name contains "pass", "pwd",
// "cred" or "auth", or is a misspelling (up to two edits) of a sensitive
// word, for a diagnostic of any kind on its line.
func TestWriteDiagnostics_SecretLookingNamesHidden(t *testing.T) {
	path := writeConfig(t, `check "api" {
  http    = "https://127.0.0.1/"
  headers = {
    "X-Db-Pwd"    = "PLANTED-pwd"
    Credential    = "PLANTED-cred"
    Authorization = "PLANTED-auth"
    secert        = "PLANTED-secert"
    Accept        = "text/plain"
  }
}
`)
	cfg, loadDiags := loadWith(path, nil)
	if loadDiags.HasErrors() {
		t.Fatalf("load: %v", locations(loadDiags))
	}
	var diags hcl.Diagnostics
	for n := 4; n <= 8; n++ {
		diags = append(diags, lineDiag(path, n, 5, fmt.Sprintf("Something on line %d", n)))
	}
	for how, out := range renderBoth(t, cfg, diags) {
		if strings.Contains(out, "PLANTED") {
			t.Errorf("%s: a secret-looking value is printed:\n%s", how, out)
		}
		for _, line := range []string{
			`     4:     "X-Db-Pwd"    = (sensitive)`,
			`     5:     Credential    = (sensitive)`,
			`     6:     Authorization = (sensitive)`,
			`     7:     secert        = (sensitive)`,
			`     8:     Accept        = "text/plain"`, // not secret: shown
		} {
			if !strings.Contains(out, line+"\n") {
				t.Errorf("%s: output lacks %q:\n%s", how, line, out)
			}
		}
	}
}

// TestWriteDiagnostics_DecodedSecretHiddenElsewhere: a decoded secret is
// hidden wherever its value is also written in the source, on every line,
// even in settings that are not secret; a secret as short as minSecretLen
// too.
func TestWriteDiagnostics_DecodedSecretHiddenElsewhere(t *testing.T) {
	// The names are not the secrets: a test's name is in its temporary
	// directory, which the output prints.
	for name, secret := range map[string]string{"long": "PLANTED-elsewhere", "minSecretLen bytes": "Zq9#"} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    password = env("SMTP_PASSWORD")
    host     = "`+secret+`.example.com"
    helo     = "`+secret+`"
  }
}
`)
			cfg, diags := loadWith(path, map[string]string{"SMTP_PASSWORD": secret})
			if len(diags) > 0 {
				t.Fatalf("load: %v", locations(diags))
			}
			if d := cfg.Transport("relay").DecodeSettings(fakeSchema); len(d) > 0 {
				t.Fatalf("decode: %v", locations(d))
			}
			out := render(t, cfg, hcl.Diagnostics{
				lineDiag(path, 6, 16, "Something about host"),
				lineDiag(path, 7, 16, "Something about helo"),
				lineDiag(path, 5, 16, "Login refused with "+secret),
			})
			if strings.Contains(out, secret) {
				t.Errorf("the secret is printed:\n%s", out)
			}
			for _, line := range []string{
				`     6:     host     = "(sensitive).example.com"`,
				`     7:     helo     = "(sensitive)"`,
				`Error: Login refused with (sensitive)`,
			} {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("output lacks %q:\n%s", line, out)
				}
			}
		})
	}
}

// TestWriteDiagnostics_FileReadsScrubbed: what file() read is scrubbed
// from messages as a whole, trimmed, line by line and as Go quotes it
// (%q), down to minSecretLen bytes.
func TestWriteDiagnostics_FileReadsScrubbed(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"lines":  "user=admin\nPLANTED-second-line\n",
		"spaced": " PLANTED-spaced\t",
		"quoted": "PLANTED\"quote\ttab",
		"short":  "Zq9#",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(path, []byte(`transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host     = file("lines")
    helo     = file("spaced")
    security = file("quoted")
    timeout  = file("short")
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := loadWith(path, nil)
	_ = cfg.Transport("relay").DecodeSettings(fakeSchema)
	tests := []struct {
		name, text, want string
	}{
		{"one line of a file", "Unknown host PLANTED-second-line.", "Unknown host (sensitive)."},
		{"trimmed", `helo "PLANTED-spaced" refused`, `helo "(sensitive)" refused`},
		{"quoted with %q", fmt.Sprintf("security %q is not allowed", files["quoted"]), `security "(sensitive)" is not allowed`},
		{"as short as minSecretLen", `timeout "Zq9#" is not a duration`, `timeout "(sensitive)" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, cfg, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: tt.text, Detail: tt.text}})
			if strings.Contains(out, "PLANTED") || strings.Contains(out, "Zq9#") {
				t.Errorf("file contents are printed:\n%s", out)
			}
			if want := "Error: " + tt.want + "\n\n" + tt.want + "\n"; !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestTransport_PluginDiagnosticsScrubbed: the diagnostics made of a
// plugin's own carry no decoded secret even before they are rendered:
// the agent also puts their text in its log and /v1/status.
func TestTransport_PluginDiagnosticsScrubbed(t *testing.T) {
	const secret = "PLANTED-plugin-password"
	path := writeConfig(t, `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    host     = "smtp.example.com"
    password = env("SMTP_PASSWORD")
  }
}
`)
	cfg, diags := loadWith(path, map[string]string{"SMTP_PASSWORD": secret})
	if len(diags) > 0 {
		t.Fatalf("load: %v", locations(diags))
	}
	tr := cfg.Transport("relay")
	if d := tr.DecodeSettings(fakeSchema); len(d) > 0 {
		t.Fatalf("decode: %v", locations(d))
	}
	got := tr.PluginDiagnostics("", sdk.Diagnostics{
		{Severity: sdk.SeverityError, Attribute: "password", Summary: "Password " + secret + " refused", Detail: "The server refused " + secret + "."},
	})
	if len(got) != 1 {
		t.Fatalf("got %d diagnostics", len(got))
	}
	if d := got[0]; d.Summary != "Password (sensitive) refused" || !strings.HasPrefix(d.Detail, "The server refused (sensitive).\n\n") {
		t.Errorf("diagnostic = %q / %q", d.Summary, d.Detail)
	}
}

// TestLoad_LiteralSecretWarning: an empty secret is not one to warn
// about, and the warning names an environment variable a shell can set.
func TestLoad_LiteralSecretWarning(t *testing.T) {
	path := writeConfig(t, `check "api" {
  http    = "https://127.0.0.1/"
  headers = { "X-Api-Key" = "PLANTED-key", password = "" }
}
`)
	_, diags := loadWith(path, nil)
	sameLines(t, "diagnostics", locations(diags), []string{path + ":3:29: warning: Secret written in the configuration"})
	if len(diags) == 1 {
		if want := `X-Api-Key = env("TOCSIN_X_API_KEY")`; !strings.Contains(diags[0].Detail, want) {
			t.Errorf("detail %q does not suggest %s", diags[0].Detail, want)
		}
	}
}

// TestWriteDiagnostics_WindowAfterSecret: on a wide line, a secret left
// of the window printed around the column is neither shown nor widens
// the window.
func TestWriteDiagnostics_WindowAfterSecret(t *testing.T) {
	wide := strings.Repeat("a", 600)
	path := writeConfig(t, `check "api" {
  http    = "https://127.0.0.1/"
  headers = { password = "PLANTED-wide", Accept = "`+wide+`", X = "end" }
}
`)
	cfg, _ := loadWith(path, nil)
	col := len(`  headers = { password = "PLANTED-wide", Accept = "`) + len(wide) + 3
	out := render(t, cfg, hcl.Diagnostics{lineDiag(path, 3, col, "Something at the end")})
	lines := sourceLines(out)
	if len(lines) != 1 || strings.Contains(out, "PLANTED") || !strings.Contains(lines[0], `X = "end"`) {
		t.Fatalf("output:\n%s", out)
	}
	if n := len([]rune(lines[0])); n > maxShownWidth+20 {
		t.Errorf("the line is printed %d characters wide: %q", n, lines[0])
	}
}
