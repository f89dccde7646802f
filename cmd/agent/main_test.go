package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cliResult is what one CLI run produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// withPlugins builds the bundled plugins and points the test configs at
// them through $TOCSIN_TEST_PLUGIN_DIR.
func withPlugins(t testing.TB) string {
	t.Helper()
	dir := sdktest.PluginDir(t, map[string]string{
		"smtp-basic":        "github.com/tocsin-dev/tocsin/plugins/smtp-basic",
		"smtp-oauth-ms":     "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms",
		"smtp-oauth-google": "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google",
		"graph":             "github.com/tocsin-dev/tocsin/plugins/graph",
		"gmail":             "github.com/tocsin-dev/tocsin/plugins/gmail",
		"webhook":           "github.com/tocsin-dev/tocsin/plugins/webhook",
		"alertmanager":      "github.com/tocsin-dev/tocsin/plugins/alertmanager",
	})
	t.Setenv("TOCSIN_TEST_PLUGIN_DIR", dir)
	return dir
}

// golden compares got with testdata/golden/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
		// also are further texts the output must hold.
		also []string
	}{
		{name: "no command", args: nil, code: exitOK, want: "Usage: tocsin <command>"},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, want: "Usage: tocsin <command>", also: []string{`Error: unknown command "frobnicate"`}},
		{name: "unknown top-level flag", args: []string{"-frobnicate"}, code: exitUsage, want: "Usage: tocsin <command>", also: []string{`Error: unknown option "-frobnicate"`}},
		{name: "unknown flag", args: []string{"validate", "-nope"}, code: exitUsage, want: "Usage: tocsin validate", also: []string{"Error: flag provided but not defined: -nope"}},
		{name: "unknown flag with an ID", args: []string{"outbox", "retry", "-nope", "x"}, code: exitUsage, want: "Usage: tocsin outbox retry", also: []string{"Error: flag provided but not defined: -nope"}},
		{name: "unknown flag of rules test", args: []string{"rules", "test", "-nope"}, code: exitUsage, want: "Usage: tocsin rules test", also: []string{"Error: flag provided but not defined: -nope"}},
		{name: "unknown flag of a nested command", args: []string{"outbox", "list", "-nope"}, code: exitUsage, want: "Usage: tocsin outbox list", also: []string{"Error: flag provided but not defined: -nope"}},
		{name: "stray argument", args: []string{"version", "extra"}, code: exitUsage, want: "unexpected argument"},
		{name: "command help", args: []string{"run", "-h"}, code: exitOK, want: "Usage: tocsin run"},
		{name: "test-send without transport", args: []string{"test-send", "-config", "testdata/valid", "-to", "a@example.com"}, code: exitUsage, want: "-transport is required"},
		{name: "test-send bad recipient", args: []string{"test-send", "-config", "testdata/valid", "-transport", "relay", "-to", "nobody"}, code: exitUsage, want: "-to must be a mail address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code = %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			out := r.stdout + r.stderr
			if !strings.Contains(out, tt.want) {
				t.Errorf("output does not contain %q:\n%s", tt.want, out)
			}
			for _, s := range tt.also {
				if !strings.Contains(out, s) {
					t.Errorf("output does not contain %q:\n%s", s, out)
				}
			}
			if n := strings.Count(out, "Usage: "); n > 1 {
				t.Errorf("the usage is printed %d times:\n%s", n, out)
			}
		})
	}
}

func TestCommandsHaveHelpAndSynopsis(t *testing.T) {
	for name, factory := range newCLI(nil, nil, nil).commands() {
		cmd, err := factory()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cmd.Help(), "Usage: tocsin "+name) {
			t.Errorf("%s: Help must start with its usage line, got %q", name, cmd.Help()[:min(40, len(cmd.Help()))])
		}
		if s := cmd.Synopsis(); s == "" || strings.Contains(s, "\n") {
			t.Errorf("%s: synopsis must be one line, got %q", name, s)
		}
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "tocsin ") || !strings.Contains(r.stdout, "plugin protocol 1") {
		t.Errorf("version = %d %q", r.code, r.stdout)
	}
}
