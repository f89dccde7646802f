package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validConfig is testdata/valid/agent.hcl with its password line replaced.
func validConfig(t *testing.T, passwordLine string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid/agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), `password = env("TOCSIN_TEST_PASSWORD")`, passwordLine, 1)
	if src == string(b) {
		t.Fatal("testdata/valid/agent.hcl has no password line to replace")
	}
	path := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidate_LiteralPasswordWarns: a password written in the file is
// valid, with a warning at its place that suggests env() or file(), and
// the password is not printed.
func TestValidate_LiteralPasswordWarns(t *testing.T) {
	withPlugins(t)
	t.Setenv("TOCSIN_TEST_PASSWORD", "x")
	path := validConfig(t, `password = "hunter2-PLANTED"`)
	r := runCLI(t, "validate", "-config", path)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"Warning: Secret written in the configuration", path + ":15:16", `env("TOCSIN_PASSWORD")`, `file("/etc/tocsin/password")`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the output lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "PLANTED") {
		t.Errorf("the password is printed:\n%s%s", r.stdout, r.stderr)
	}
}

// TestValidate_MangledPasswordNotPrinted runs `tocsin validate` on each
// mangled password line of issue 11 finding 4 and greps everything it
// prints for the planted value.
func TestValidate_MangledPasswordNotPrinted(t *testing.T) {
	withPlugins(t)
	t.Setenv("TOCSIN_TEST_PASSWORD", "x")
	for _, line := range []string{
		"password\u00a0= \"hunter2-PLANTED\"",
		"password \"hunter2-PLANTED\"",
		"password =\u200b \"hunter2-PLANTED\"",
		"pasword = \"hunter2-PLANTED\"",
		"passwd = \"hunter2-PLANTED\"",
		"pass = \"hunter2-PLANTED\"",
		"helo = file(\"ENVIRON\")",
		"helo = trimspace(file(\"ENVIRON\"))",
		"host = file(\"ENVIRON\")",
	} {
		// A file like /proc/self/environ, read into settings that are
		// not secret.
		environ := filepath.Join(t.TempDir(), "environ")
		if err := os.WriteFile(environ, []byte("HOME=/root\x00TOCSIN_PLANTED=hunter2-PLANTED\x00"), 0o600); err != nil {
			t.Fatal(err)
		}
		line = strings.ReplaceAll(line, "ENVIRON", environ)
		path := validConfig(t, line)
		r := runCLI(t, "validate", "-config", path)
		if r.code == 0 && !strings.Contains(line, "file(") {
			t.Errorf("%q: validate passed", line)
		}
		if strings.Contains(r.stdout+r.stderr, "PLANTED") {
			t.Errorf("%q: the planted value is printed:\n%s%s", line, r.stdout, r.stderr)
		}
	}
}

// TestValidate_HostileInputIsBounded runs `tocsin validate` on the inputs
// of issue 11 findings 2 and 3: each fails with a diagnostic at its
// file:line:col and a short output.
func TestValidate_HostileInputIsBounded(t *testing.T) {
	for name, src := range map[string]string{
		"70,000 deep":          "rule \"r\" {\n  when = " + strings.Repeat("(", 70000) + "1" + strings.Repeat(")", 70000) + "\n}\n",
		"8,000 interpolations": "agent {\n  node = \"" + strings.Repeat("${", 8000) + "\"\n}\n",
		"8,000 bad characters": "agent {\n  node = " + strings.Repeat("\u00a0", 8000) + "\n}\n",
	} {
		path := filepath.Join(t.TempDir(), "agent.hcl")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "validate", "-config", path)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1", name, r.code)
		}
		if !strings.Contains(r.stderr, path+":2:") {
			t.Errorf("%s: no diagnostic at %s:2:\n%.3000s", name, path, r.stderr)
		}
		if n := len(r.stdout) + len(r.stderr); n > 8<<10 {
			t.Errorf("%s: validate printed %d bytes", name, n)
		}
	}
}
