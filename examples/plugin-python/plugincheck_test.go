package pluginpython_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestPluginCheck_Python: `tocsin plugin check`, the conformance kit as a
// command, passes on the Python plugin, writing to the kit's directory
// and posting to the kit's HTTP server with a planted token.
func TestPluginCheck_Python(t *testing.T) {
	plugin := pluginPath(t)
	tocsin := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent", "tocsin")
	for _, tc := range []struct{ name, config string }{
		{"directory", "dir = kit.directory\n"},
		{"url", "url   = kit.http_url\ntoken = \"tk-5f1c0a9e7b3d2468\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "settings.hcl")
			if err := os.WriteFile(config, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), tocsin, "plugin", "check", "-config", config, plugin).CombinedOutput()
			if err != nil {
				t.Fatalf("tocsin plugin check: %v\n%s", err, out)
			}
			for _, want := range []string{"PASS handshake", "PASS batch", "PASS crash-mid-send"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("no %q in the report:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "FAIL") {
				t.Errorf("a check failed:\n%s", out)
			}
		})
	}
}
