package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

func TestValidate_Valid(t *testing.T) {
	withPlugins(t)
	t.Setenv("TOCSIN_TEST_PASSWORD", "PLANTED-env-secret-7731")
	r := runCLI(t, "validate", "-config", "testdata/valid")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "valid: 1 transport(s), 1 contact(s)") {
		t.Errorf("stdout = %q", r.stdout)
	}
}

// TestValidate_Broken runs validate on each broken config under
// testdata/validate and compares all it printed with a golden file. Every
// diagnostic must name file:line:col.
func TestValidate_Broken(t *testing.T) {
	dir := withPlugins(t)
	t.Setenv("TOCSIN_TEST_PASSWORD", "PLANTED-env-secret-7731")
	files, err := filepath.Glob("testdata/validate/*.hcl")
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 broken configs, have %d (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "validate", "-config", f)
			if r.code != exitError {
				t.Errorf("exit code = %d, want %d", r.code, exitError)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			out := strings.ReplaceAll(r.stderr, dir, "$PLUGIN_DIR")
			errors := strings.Count(out, "Error: ")
			located := strings.Count(out, "  on "+f+":")
			if errors == 0 || located < errors {
				t.Errorf("%d errors but %d name %s:line:col:\n%s", errors, located, f, out)
			}
			golden(t, "validate-"+name+".txt", out)
			sdktest.NoSecrets(t, []string{"PLANTED-secret-in-file-0451", "PLANTED-env-secret-7731"}, []string{"validate output"}, out)
		})
	}
}

// TestValidate_Directory loads the whole directory of broken configs as one
// configuration: every file's problems are reported in one run.
func TestValidate_Directory(t *testing.T) {
	withPlugins(t)
	r := runCLI(t, "validate", "-config", "testdata/validate")
	if r.code != exitError {
		t.Fatalf("exit code = %d", r.code)
	}
	if !strings.Contains(r.stderr, "syntax_error.hcl:") || !strings.Contains(r.stderr, "unknown_block.hcl:") {
		t.Errorf("diagnostics of several files expected:\n%s", r.stderr)
	}
}

func TestValidate_NoSecretEvenWhenValueIsWrong(t *testing.T) {
	withPlugins(t)
	dir := t.TempDir()
	cfg := `agent {
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "/tmp/x"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host = "mail.example.com"
    password = ["PLANTED-list-secret-1"] # wrong type, right on the secret's line
    username = 12
    auth = "none"
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "validate", "-config", dir)
	if r.code != exitError || !strings.Contains(r.stderr, "a.hcl:10:") {
		t.Fatalf("exit %d, want an error at line 10:\n%s", r.code, r.stderr)
	}
	sdktest.NoSecrets(t, []string{"PLANTED-list-secret-1"}, []string{"stdout", "stderr"}, r.stdout, r.stderr)
}
