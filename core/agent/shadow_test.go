package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
)

// TestAgent_StartLogsShadowedPlugin: a transport whose plugin in
// local_plugin_dir hides the bundled one is logged at start, naming both
// files, whether the plugin then starts or not; one that pins its sha256
// is not.
func TestAgent_StartLogsShadowedPlugin(t *testing.T) {
	bundled, local := t.TempDir(), t.TempDir()
	for _, d := range []string{bundled, local} {
		if err := os.WriteFile(filepath.Join(d, "tocsin-plugin-mail"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.DefaultConfig()
	cfg.Agent.PluginDir, cfg.Agent.LocalPluginDir, cfg.Agent.DataDir = bundled, local, t.TempDir()
	for _, tt := range []struct {
		name, sha256 string
		logged       bool
	}{
		{name: "unpinned", logged: true},
		{name: "pinned", sha256: strings.Repeat("0", 64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &Agent{logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})}
			if st, _ := a.startPlugin(context.Background(), cfg, &config.Transport{Name: "relay", Plugin: "mail", SHA256: tt.sha256}); st != nil {
				t.Fatal("a plugin that exits started")
			}
			want := "Local plugin shadows the bundled one: Transport \"relay\" runs " + filepath.Join(local, "tocsin-plugin-mail") + ", not the bundled " + filepath.Join(bundled, "tocsin-plugin-mail")
			if got := strings.Contains(logs.String(), want); got != tt.logged {
				t.Errorf("logged %v, want %v:\n%s", got, tt.logged, logs.String())
			}
		})
	}
}

// TestAgent_ReloadRestartsOnLocalPluginDir: a reload that changes
// local_plugin_dir may change which file a transport runs, so the
// transport gets a new plugin.
func TestAgent_ReloadRestartsOnLocalPluginDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	cfg := writeConfig(t, path, "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.plugins["good"], fs.plugins["broken"] = accepts("250 a"), accepts("250 b")
	a, diags := startFake(t, cfg, fs, ft)
	if a == nil || len(diags) > 0 {
		t.Fatalf("start: %s", diags.Error())
	}
	next := writeConfig(t, path, "broken@example.com")
	next.Agent.LocalPluginDir = t.TempDir()
	if d := a.Reload(context.Background(), next); len(d) > 0 {
		t.Fatalf("reload: %s", d.Error())
	}
	if n := fs.count(fs.starts, "good"); n != 2 {
		t.Errorf("good started %d times; want a new plugin after local_plugin_dir changed", n)
	}
}
