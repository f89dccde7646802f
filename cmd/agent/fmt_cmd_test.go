package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	unformattedHCL = "agent {\nnode=\"b\"\n  data_dir =   \"/var/lib/tocsin\"\n}\n\ntransport \"relay\" {\n    plugin=\"smtp-basic\" # comment\n  from = \"a@example.com\"\n  config {\n  port=587\n  }\n}\n"
	formattedHCL   = "agent {\n  node     = \"b\"\n  data_dir = \"/var/lib/tocsin\"\n}\n\ntransport \"relay\" {\n  plugin = \"smtp-basic\" # comment\n  from   = \"a@example.com\"\n  config {\n    port = 587\n  }\n}\n"
	brokenHCL      = "agent {\n  node = \"b\n}\n"
)

// writeFiles writes files (path relative to dir: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFmt(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string // after fmt; DIR is replaced by the directory
		code  int
		// stdout holds the lines printed (file names relative to DIR), in order.
		stdout []string
		// stderr must hold these.
		stderr []string
		// after is each file's content afterwards; files not named keep
		// theirs.
		after map[string]string
	}{
		{
			name:   "rewrites",
			files:  map[string]string{"a.hcl": unformattedHCL},
			args:   []string{"DIR/a.hcl"},
			stdout: []string{"DIR/a.hcl"},
			after:  map[string]string{"a.hcl": formattedHCL},
		},
		{
			name:  "formatted left alone",
			files: map[string]string{"a.hcl": formattedHCL},
			args:  []string{"DIR/a.hcl"},
		},
		{
			name: "a directory, recursively, only *.hcl, no hidden ones",
			files: map[string]string{
				"a.hcl": unformattedHCL, "sub/b.hcl": unformattedHCL, "sub/c.hcl": formattedHCL,
				"notes.txt": unformattedHCL, ".hidden.hcl": unformattedHCL, ".git/x.hcl": unformattedHCL,
			},
			args:   []string{"DIR"},
			stdout: []string{"DIR/a.hcl", "DIR/sub/b.hcl"},
			after:  map[string]string{"a.hcl": formattedHCL, "sub/b.hcl": formattedHCL},
		},
		{
			name:   "a file named is formatted whatever its name",
			files:  map[string]string{"agent.hcl.example": unformattedHCL},
			args:   []string{"DIR/agent.hcl.example"},
			stdout: []string{"DIR/agent.hcl.example"},
			after:  map[string]string{"agent.hcl.example": formattedHCL},
		},
		{
			name:   "check lists and writes nothing",
			files:  map[string]string{"a.hcl": unformattedHCL, "b.hcl": formattedHCL, "c.hcl": unformattedHCL},
			args:   []string{"-check", "DIR"},
			code:   exitUnformatted,
			stdout: []string{"DIR/a.hcl", "DIR/c.hcl"},
		},
		{
			name:  "check passes",
			files: map[string]string{"a.hcl": formattedHCL, "sub/b.hcl": formattedHCL},
			args:  []string{"DIR", "-check"},
		},
		{
			name:   "a syntax error is reported and its file left as it is",
			files:  map[string]string{"a.hcl": unformattedHCL, "broken.hcl": brokenHCL},
			args:   []string{"DIR"},
			code:   exitError,
			stdout: []string{"DIR/a.hcl"},
			stderr: []string{"Error: Invalid multi-line string", "on DIR/broken.hcl:2:12:"},
			after:  map[string]string{"a.hcl": formattedHCL},
		},
		{
			name:   "check: a syntax error wins over unformatted",
			files:  map[string]string{"a.hcl": unformattedHCL, "broken.hcl": brokenHCL},
			args:   []string{"-check", "DIR"},
			code:   exitError,
			stdout: []string{"DIR/a.hcl"},
			stderr: []string{"on DIR/broken.hcl:2:12:"},
		},
		{
			name:   "diff",
			files:  map[string]string{"a.hcl": unformattedHCL},
			args:   []string{"-diff", "-check", "DIR/a.hcl"},
			code:   exitUnformatted,
			stdout: []string{"DIR/a.hcl", "--- old/DIR/a.hcl", "+++ new/DIR/a.hcl", "@@ -1,12 +1,12 @@", "-node=\"b\"", "+  node     = \"b\""},
		},
		{
			name:   "a missing file",
			args:   []string{"DIR/none.hcl"},
			code:   exitError,
			stderr: []string{"Error: stat DIR/none.hcl: no such file or directory"},
		},
		{
			name:   "an unknown flag",
			args:   []string{"-write"},
			code:   exitUsage,
			stderr: []string{"flag provided but not defined: -write", "Usage: tocsin fmt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "DIR", dir))
			}
			r := runCLI(t, append([]string{"fmt"}, args...)...)
			stdout := strings.ReplaceAll(r.stdout, strings.TrimPrefix(dir, "/"), "DIR")
			stdout = strings.ReplaceAll(stdout, dir, "DIR")
			stderr := strings.ReplaceAll(r.stderr, dir, "DIR")
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, stdout, stderr)
			}
			rest := stdout
			for _, want := range tt.stdout {
				i := strings.Index(rest, want+"\n")
				if i < 0 {
					t.Errorf("stdout has no %q (in order) in\n%s", want, stdout)
					break
				}
				rest = rest[i+len(want):]
			}
			if len(tt.stdout) == 0 && stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(tt.name, "diff") && len(tt.stdout) > 0 && strings.Count(stdout, "\n") != len(tt.stdout) {
				t.Errorf("stdout = %q, want the lines %q", stdout, tt.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr has no %q in\n%s", want, stderr)
				}
			}
			for name, before := range tt.files {
				want, ok := tt.after[name]
				if !ok {
					want = before
				}
				if got := readFile(t, filepath.Join(dir, name)); got != want {
					t.Errorf("%s =\n%s\nwant\n%s", name, got, want)
				}
			}
		})
	}
}

func TestFmt_KeepsModeAndLinks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"real/agent.hcl": unformattedHCL})
	target := filepath.Join(dir, "real", "agent.hcl")
	if err := os.Chmod(target, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "agent.hcl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "fmt", link); r.code != exitOK {
		t.Fatalf("fmt = %d %s", r.code, r.stderr)
	}
	if got := readFile(t, target); got != formattedHCL {
		t.Errorf("the link's target =\n%s", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is no longer a link: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640 (%v)", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "real"))
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
}

// TestFmt_ShippedFiles is make lint's check, in the suite: every HCL
// file the project ships is in canonical form.
func TestFmt_ShippedFiles(t *testing.T) {
	r := runCLI(t, "fmt", "-check", "../../agent.hcl.example", "../../examples", "../../rules")
	if r.code != exitOK {
		t.Errorf("fmt -check = %d: run tocsin fmt on\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestFmt_Stdin(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		code     int
		stdout   string
	}{
		{name: "formats to stdout", in: unformattedHCL, args: []string{"-"}, stdout: formattedHCL},
		{name: "formatted stays", in: formattedHCL, args: []string{"-"}, stdout: formattedHCL},
		{name: "check", in: unformattedHCL, args: []string{"-check", "-"}, code: exitUnformatted},
		{name: "check passes", in: formattedHCL, args: []string{"-check", "-"}},
		{name: "syntax error", in: brokenHCL, args: []string{"-"}, code: exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in")
			writeFiles(t, filepath.Dir(in), map[string]string{"in": tt.in})
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			stdin := os.Stdin
			os.Stdin = f
			defer func() { os.Stdin = stdin }()
			r := runCLI(t, append([]string{"fmt"}, tt.args...)...)
			if r.code != tt.code || r.stdout != tt.stdout {
				t.Errorf("fmt %v = %d %q, want %d %q (stderr %s)", tt.args, r.code, r.stdout, tt.code, tt.stdout, r.stderr)
			}
			if tt.code == exitError && !strings.Contains(r.stderr, "on <stdin>:2:") {
				t.Errorf("stderr = %s", r.stderr)
			}
		})
	}
}
