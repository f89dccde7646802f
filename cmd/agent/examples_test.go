package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_ShippedConfigs keeps agent.hcl.example and examples/*.hcl
// valid: each is validated with the real plugins, plugin_dir pointed at
// the test's build.
func TestValidate_ShippedConfigs(t *testing.T) {
	pluginDir := withPlugins(t)
	t.Setenv("TOCSIN_RELAY_PASSWORD", "x")
	t.Setenv("TOCSIN_GMAIL_APP_PASSWORD", "x")
	files, _ := filepath.Glob("../../examples/*.hcl")
	files = append(files, "../../agent.hcl.example")
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			const pinned = `plugin_dir = "/usr/lib/tocsin/plugins"`
			dir := t.TempDir()
			if strings.Contains(text, pinned) {
				text = strings.Replace(text, pinned, `plugin_dir = "`+pluginDir+`"`, 1)
			} else {
				override := "agent {\n  plugin_dir = \"" + pluginDir + "\"\n}\n"
				if err := os.WriteFile(filepath.Join(dir, "zz-test-plugin-dir.hcl"), []byte(override), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "config.hcl"), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, "validate", "-config", dir)
			if r.code != exitOK {
				t.Errorf("%s does not validate:\n%s", f, r.stderr)
			}
		})
	}
}
