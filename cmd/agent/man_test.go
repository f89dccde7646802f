package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoffEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"-config PATH", `\-config PATH`},
		{`a\nb`, `a\enb`},
		{".TH not a request", `\&.TH not a request`},
		{"'quoted' request", `\(aqquoted\(aq request`},
		{"a `tick`", `a \(gatick\(ga`},
		{"cut with …", `cut with \[u2026]`},
		{"mid. sentence", "mid. sentence"},
	}
	for _, tt := range tests {
		if got := roffEscape(tt.in); got != tt.want {
			t.Errorf("roffEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var r roff
	r.raw(".x")
	r.request("SS", `say "hi"`)
	r.request("RS", "4")
	if got, want := r.b.String(), "\\&.x\n.SS \"say \\(dqhi\\(dq\"\n.RS 4\n"; got != want {
		t.Errorf("roff = %q, want %q", got, want)
	}
}

// TestMan_EveryCommand fails when a command of the table, or one of its
// flags, has no place in the man page.
func TestMan_EveryCommand(t *testing.T) {
	specs := specsOrFatal(t)
	page := manPage(specs, "1.2.3")
	if !strings.HasPrefix(page, `.\" Generated`) || !strings.Contains(page, "\n.TH TOCSIN 1 \"\" \"tocsin 1.2.3\" \"Tocsin Manual\"\n") {
		t.Errorf("the page does not start as tocsin(1):\n%s", page[:min(300, len(page))])
	}
	for i, s := range specs {
		head := "\n.SS \"tocsin " + roffEscape(s.name) + "\"\n"
		start := strings.Index(page, head)
		if start < 0 {
			t.Errorf("no section for %s", s.name)
			continue
		}
		sec := page[start:]
		if i+1 < len(specs) {
			if end := strings.Index(sec, "\n.SS "+`"tocsin `+roffEscape(specs[i+1].name)+`"`); end > 0 {
				sec = sec[:end]
			}
		}
		if !strings.Contains(sec, roffEscape(strings.TrimPrefix(firstLine(s.help), "Usage: "))) {
			t.Errorf("%s: the section has no usage line", s.name)
		}
		for _, f := range s.flags {
			if !strings.Contains(sec, "\n.TP\n\\fB\\-"+roffEscape(f.name)+`\fR`) {
				t.Errorf("%s: no entry for -%s in\n%s", s.name, f.name, sec)
			}
		}
		if !strings.Contains(page, "\n.TP\n\\fB"+roffEscape(s.name)+"\\fR\n"+roffEscape(s.synopsis)) {
			t.Errorf("%s is not in the list of commands", s.name)
		}
	}
	if strings.Contains(page, "__complete") {
		t.Error("the page shows the hidden __complete")
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestMan_Renders renders the page with man and groff, with warnings on:
// none may appear.
func TestMan_Renders(t *testing.T) {
	dir := t.TempDir()
	if r := runCLI(t, "man", dir); r.code != exitOK || r.stdout != "" {
		t.Fatalf("man %s = %d %q %q", dir, r.code, r.stdout, r.stderr)
	}
	page := filepath.Join(dir, "tocsin.1")
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff (apt-get install groff-base)")
	}
	out, err := exec.Command("groff", "-man", "-ww", "-z", "-Tutf8", page).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -ww: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("no man (apt-get install man-db)")
	}
	cmd := exec.Command("man", "-l", "--warnings", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=", "PAGER=cat", "MANPAGER=cat")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Errorf("man -l --warnings: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"tocsin test-send", "-transport NAME", "The transport block to send through.", `    config = ["failover.hcl"]`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the rendered page has no %q", want)
		}
	}
}

func TestMan_Stdout(t *testing.T) {
	r := runCLI(t, "man")
	if r.code != exitOK || !strings.Contains(r.stdout, ".SH COMMANDS") {
		t.Errorf("man = %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, "man", "a", "b"); r.code != exitUsage {
		t.Errorf("man a b = %d", r.code)
	}
}
