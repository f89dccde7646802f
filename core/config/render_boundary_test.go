package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// renderSource renders one diagnostic at line:col of src, named f.hcl,
// without a Config: only the argument names tell what is secret.
func renderSource(t *testing.T, src string, line, col int, summary string) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, map[string][]byte{"f.hcl": []byte(src)}, hcl.Diagnostics{lineDiag("f.hcl", line, col, summary)}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// shown is the rendering of a diagnostic "S" at line:col of f.hcl whose
// source line prints as text ("" for no source line).
func shown(line, col int, text string) string {
	out := "Error: S\n\n  on f.hcl:" + itoa(line) + ":" + itoa(col) + ":\n"
	if text != "" {
		out += strings.Repeat(" ", 6-len(itoa(line))) + itoa(line) + ": " + text + "\n"
	}
	return out + "\n"
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

// TestWriteDiagnostics_LineEnds: a line is printed without its line end,
// CR LF too; an empty line prints empty; a position outside the file
// prints its place and no source line.
func TestWriteDiagnostics_LineEnds(t *testing.T) {
	const crlf = "a = 1\r\nb = \"x\"\r\n\r\nc = 2"
	tests := []struct {
		name, src  string
		line       int
		wantSource string // "" for none
	}{
		{"CR LF", crlf, 1, "a = 1"},
		{"CR LF with a string", crlf, 2, `b = "x"`},
		{"empty CR LF line", crlf, 3, ""},
		{"last line without a line end", crlf, 4, "c = 2"},
		{"empty LF line", "a = 1\n\nb = 2\n", 2, ""},
		{"the empty line after the last line end", "a = 1\nb = 2\n", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderSource(t, tt.src, tt.line, 1, "S")
			want := "Error: S\n\n  on f.hcl:" + itoa(tt.line) + ":1:\n     " + itoa(tt.line) + ": " + tt.wantSource + "\n\n"
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	for _, line := range []int{0, 4, 99} {
		if got, want := renderSource(t, "a = 1\nb = 2\n", line, 1, "S"), shown(line, 1, ""); got != want {
			t.Errorf("line %d of a 3-line file: got %q, want %q", line, got, want)
		}
	}
}

// TestWriteDiagnostics_SecretNameGuesses: without a schema, a value is
// hidden when its name is a misspelling of a sensitive word of five
// letters or more ("tokn" for "token"), but a name of three letters is
// not guessed at; an object key counts like an argument name, and keys
// that are neither a word nor a string (a number, an expression) are
// neither.
func TestWriteDiagnostics_SecretNameGuesses(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"four letters, a misspelt token", `tokn = "PLANTED"`, `tokn = (sensitive)`},
		{"three letters", `tok = "abc"`, `tok = "abc"`},
		{"object keys of every kind", `m = { 1 = "one", (k) = "v", "x" = "y", password = "PLANTED" }`, `m = { 1 = "one", (k) = "v", "x" = "y", password = (sensitive) }`},
		{"a misspelt key in a map", `m = { tokn = "PLANTED", Accept = "text/plain" }`, `m = { tokn = (sensitive), Accept = "text/plain" }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := renderSource(t, tt.line+"\n", 1, 1, "S"), shown(1, 1, tt.want); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestWriteDiagnostics_BrokenFileSecretNames: in a file that does not
// parse, strings are elided and the rest of a line after a name that
// looks secret is hidden, digits inside the name included; a secret word
// inside a string is no name, and a name at the end of its line hides
// nothing.
func TestWriteDiagnostics_BrokenFileSecretNames(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"a digit inside the name", `tok3n = PLANTED`, `tok3n = (sensitive)`},
		{"a colon and a tab", "password:\tPLANTED", "password:\t(sensitive)"},
		{"nothing after the name", `password =`, `password =`},
		{"a secret word inside a string", `x = "password" + huh`, `x = "…" + huh`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "agent {\n  x = = 1\n  " + tt.line + "\n}\n"
			if got, want := renderSource(t, src, 3, 3, "S"), shown(3, 3, "  "+tt.want); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestWriteDiagnostics_NestingLimitElided: in a file that nests too
// deeply, the scan for strings stops where the nesting goes over the
// limit; the rest of that line, strings or not, is not printed.
func TestWriteDiagnostics_NestingLimitElided(t *testing.T) {
	src := "a = 1\nb = [" + strings.Repeat("[", 150) + "\n" + strings.Repeat("[", 100) + ` "PLANTED"` + "\n"
	if d := CheckSource("f.hcl", []byte(src)); len(d) != 1 || d[0].Subject.Start.Line != 3 || d[0].Subject.Start.Column != 49 {
		t.Fatalf("the nesting goes over the limit elsewhere: %v", d)
	}
	if got, want := renderSource(t, src, 3, 1, "S"), shown(3, 1, strings.Repeat("[", 48)+"…"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestWriteDiagnostics_DecodedSecretPlaces: a decoded secret is hidden
// wherever the source has it: written twice in a row (one mark), on a
// line whose strings are elided (the mark says it was a secret), at the
// very start of a file and at its very end without a line end.
func TestWriteDiagnostics_DecodedSecretPlaces(t *testing.T) {
	const secret = "PLANTEDpw"
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	for name, src := range map[string]string{
		a: `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    password = env("P")
    helo     = "` + secret + secret + `"
    host     = "` + secret + `"
  }
}
`,
		b: secret + " = 1\ny = " + secret,
	} {
		if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := loadWith(dir, map[string]string{"P": secret})
	if d := cfg.Transport("relay").DecodeSettings(fakeSchema); len(d) > 0 {
		t.Fatalf("decode: %v", locations(d))
	}
	tests := []struct {
		name string
		diag *hcl.Diagnostic
		want string
	}{
		{"twice in a row", lineDiag(a, 6, 5, "S"), `     6:     helo     = "(sensitive)"`},
		{"in a string of an unknown argument", lineDiag(a, 7, 5, "Unsupported argument"), `     7:     host     = "(sensitive)"`},
		{"at the start of a file", lineDiag(b, 1, 1, "S"), `     1: (sensitive) = 1`},
		{"at the end of a file", lineDiag(b, 2, 1, "S"), `     2: y = (sensitive)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, cfg, hcl.Diagnostics{tt.diag})
			if lines := sourceLines(out); len(lines) != 1 || lines[0] != tt.want {
				t.Errorf("source lines %q, want %q", lines, tt.want)
			}
		})
	}
}

// TestWriteDiagnostics_ShortSecretNotScrubbed: a decoded secret shorter
// than minSecretLen would blank out ordinary words, so it is not scrubbed
// from messages nor hidden in the source.
func TestWriteDiagnostics_ShortSecretNotScrubbed(t *testing.T) {
	path := writeConfig(t, `transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    password = env("P")
    host     = "smtp.example.com"
  }
}
`)
	cfg, _ := loadWith(path, map[string]string{"P": "com"})
	if d := cfg.Transport("relay").DecodeSettings(fakeSchema); len(d) > 0 {
		t.Fatalf("decode: %v", locations(d))
	}
	d := lineDiag(path, 6, 5, "Connection to smtp.example.com refused")
	out := render(t, cfg, hcl.Diagnostics{d})
	if !strings.HasPrefix(out, "Error: Connection to smtp.example.com refused\n") || !strings.Contains(out, `     6:     host     = "smtp.example.com"`+"\n") {
		t.Errorf("output:\n%s", out)
	}
}

// TestWriteDiagnostics_WindowEdges: a line up to maxShownWidth characters
// is printed whole; a wider one as maxShownWidth characters starting
// maxShownWidth/3 before the column, counted in runes, with "…" where
// it is cut. A secret inside the window is hidden, one that ends at the
// window's left edge or starts at its right edge is not shown at all,
// and one cut by an edge shows as its mark.
func TestWriteDiagnostics_WindowEdges(t *testing.T) {
	digits := strings.Repeat("0123456789", 40)
	ascii := `v = "` + digits + `"` // 406 bytes
	wide := `v = "` + strings.Repeat("é€a", 100) + `"`
	runes := []rune(wide)
	// pwd's value [12, 18) ends where the window starts for column 72;
	// pwd2's starts at 178, where that window ends.
	secrets := `m = { pwd = "AAAA", x = "` + strings.Repeat("x", 143) + `", pwd2 = "BBBB" }`
	if i := strings.Index(secrets, `"BBBB"`); i != 178 {
		t.Fatalf("pwd2's value is at %d", i)
	}
	exactly := `v = "` + digits[:154] + `"`
	tests := []struct {
		name, src string
		col       int
		want      string
	}{
		{"exactly maxShownWidth", exactly, 150, exactly},
		{"exactly maxShownWidth, CR LF", exactly + "\r\n", 150, exactly},
		{"one more", exactly + " ", 150, "…" + (exactly + " ")[96:]},
		{"column near the start", ascii, 20, ascii[:160] + "…"},
		{"column in the middle", ascii, 200, "…" + ascii[146:306] + "…"},
		{"column near the end", ascii, 400, "…" + ascii[346:]},
		{"multi-byte runes", wide, 100, "…" + string(runes[46:206]) + "…"},
		{"multi-byte runes, near the end", wide, 300, "…" + string(runes[246:])},
		{"secrets at both edges", secrets, 72, "…" + secrets[18:178] + "…"},
		{"a secret cut by the left edge", secrets, 71, "…(sensitive)" + secrets[18:177] + "…"},
		{"a secret cut by the right edge", secrets, 74, "…" + secrets[20:178] + "(sensitive)…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderSource(t, tt.src+"\n", 1, tt.col, "S")
			if want := shown(1, tt.col, tt.want); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
		})
	}
}
