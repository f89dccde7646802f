package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// localPlugins makes a local_plugin_dir beside the bundled plugins of
// withPlugins holding a copy of smtp-basic under its own name (a clash)
// and under the name "mine", and a configuration using both directories
// whose transport relay runs smtp-basic, pinned to sha256 pin when pin is
// set. It returns the configuration's path and the local directory.
func localPlugins(t *testing.T, pin bool) (string, string) {
	t.Helper()
	bundled := withPlugins(t)
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(bundled, "tocsin-plugin-smtp-basic"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"smtp-basic", "mine"} {
		if err := os.WriteFile(filepath.Join(local, "tocsin-plugin-"+name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sha := ""
	if pin {
		sum, err := pluginhost.Checksum(filepath.Join(local, "tocsin-plugin-smtp-basic"))
		if err != nil {
			t.Fatal(err)
		}
		sha = fmt.Sprintf("sha256 = %q", sum)
	}
	cfg := filepath.Join(dir, "agent.hcl")
	body := fmt.Sprintf(`agent {
  plugin_dir       = %q
  local_plugin_dir = "local" # relative to this file
  data_dir         = %q
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "Tocsin <tocsin@example.com>"
  %s
  config {
    host     = "mail.example.com"
    username = "tocsin"
    password = "not-a-real-one"
  }
}
`, bundled, filepath.Join(dir, "data"), sha)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, local
}

// TestPlugins_LocalDir: tocsin plugins lists the plugins of
// local_plugin_dir with the bundled ones, and a bundled plugin that a local
// one hides as shadowed, with a warning.
func TestPlugins_LocalDir(t *testing.T) {
	cfg, local := localPlugins(t, false)
	bundled := os.Getenv("TOCSIN_TEST_PLUGIN_DIR")
	r := runCLI(t, "plugins", "-config", cfg)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	localBasic, bundledBasic := filepath.Join(local, "tocsin-plugin-smtp-basic"), filepath.Join(bundled, "tocsin-plugin-smtp-basic")
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		rows = append(rows, f[0]+" "+strings.Join(f[5:], " "))
	}
	for _, want := range []string{
		"smtp-basic " + filepath.Join(local, "tocsin-plugin-mine"), // a copy reports its own name
		"smtp-basic " + localBasic,
		"smtp-basic " + bundledBasic + " (shadowed by " + localBasic + ")",
		"gmail " + filepath.Join(bundled, "tocsin-plugin-gmail"),
	} {
		if !strings.Contains(strings.Join(rows, "\n")+"\n", want+"\n") {
			t.Errorf("no row %q in\n%s", want, r.stdout)
		}
	}
	if len(rows) != 9 {
		t.Errorf("%d rows, want 7 bundled, 1 local, 1 shadowed:\n%s", len(rows), r.stdout)
	}
	if want := "Warning: plugin smtp-basic: " + localBasic + " shadows the bundled " + bundledBasic; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}

	empty := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(empty, []byte("agent {\n  plugin_dir = \"bundled\"\n  local_plugin_dir = \"local\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(filepath.Dir(empty), "bundled"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "plugins", "-config", empty)
	dir := filepath.Dir(empty)
	if want := "No plugins in " + filepath.Join(dir, "local") + " or " + filepath.Join(dir, "bundled"); r.code != exitError || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
}

// TestValidate_ShadowedPluginWarns: a transport that runs a local plugin
// hiding the bundled one is valid, with a warning naming both files and
// the remedies; pinning its sha256 says the operator means it.
func TestValidate_ShadowedPluginWarns(t *testing.T) {
	cfg, local := localPlugins(t, false)
	bundled := os.Getenv("TOCSIN_TEST_PLUGIN_DIR")
	r := runCLI(t, "validate", "-config", cfg)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Warning: Local plugin shadows the bundled one",
		`Transport "relay" runs ` + filepath.Join(local, "tocsin-plugin-smtp-basic") + ", not the bundled " + filepath.Join(bundled, "tocsin-plugin-smtp-basic"),
		"remove it; if it is, pin it with sha256 = \"",
		"of the same name: a plugin in local_plugin_dir wins.",
		"agent.hcl:8:12", // the plugin attribute
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	cfg, _ = localPlugins(t, true)
	r = runCLI(t, "validate", "-config", cfg)
	if r.code != exitOK || strings.Contains(r.stderr, "shadows") {
		t.Errorf("pinned: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
