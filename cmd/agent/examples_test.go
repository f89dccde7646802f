package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestValidate_ShippedConfigs keeps agent.hcl.example and examples/*.hcl
// valid: each is validated with the real plugins, plugin_dir pointed at
// the test's build.
func TestValidate_ShippedConfigs(t *testing.T) {
	pluginDir := withPlugins(t)
	t.Setenv("TOCSIN_RELAY_PASSWORD", "x")
	t.Setenv("TOCSIN_SECOND_RELAY_PASSWORD", "x")
	t.Setenv("TOCSIN_GMAIL_APP_PASSWORD", "x")
	t.Setenv("TOCSIN_M365_CLIENT_SECRET", "x")
	t.Setenv("TOCSIN_GRAPH_CLIENT_SECRET", "x")
	t.Setenv("TOCSIN_FLEET_AM_PASSWORD", "x")
	t.Setenv("TOCSIN_TEAMS_WEBHOOK_URL", "https://example.invalid/workflows/x/triggers/manual/paths/invoke?sig=x")
	// The Google examples read a service account key from /etc/tocsin:
	// put a real one (from the stand-in) in a directory of the test's.
	etc := googleKeys(t, "google-sa.json", "gmail-sa.json")
	files, _ := filepath.Glob("../../examples/*.hcl")
	fleet, _ := filepath.Glob("../../examples/fleet/*.hcl")
	files = append(files, fleet...)
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
			text := strings.ReplaceAll(string(src), `"/etc/tocsin/`, `"`+etc+`/`)
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
			// A delegated transport has no login yet: the one warning a
			// shipped config may have.
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(line, "Warning:") && !strings.Contains(line, "No refresh token stored") {
					t.Errorf("%s validates with a warning:\n%s", f, r.stderr)
				}
			}
		})
	}
}

// googleKeys writes service account keys of a Google stand-in under the
// given names in a new directory and returns it.
func googleKeys(t *testing.T, names ...string) string {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	g := testserver.StartGoogleOAuthT(t, ca, testserver.GoogleOAuthOptions{})
	dir := t.TempDir()
	for _, n := range names {
		key, err := g.NewServiceAccount("tocsin", []string{"https://mail.google.com/"}, "alerts@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
