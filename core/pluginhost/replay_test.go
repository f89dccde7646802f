package pluginhost_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/sdk/testserver"
)

// TestInstance_RestartedPluginHangsInConfigure: a plugin that dies and,
// started again, hangs in the replayed Configure does not hold the send
// (or the instance) forever: the replay is bounded, the send fails, and
// the unconfigured process is not used.
func TestInstance_RestartedPluginHangsInConfigure(t *testing.T) {
	defer pluginhost.SetConfigureTimeout(time.Second)()
	dir := sdktest.PluginDir(t, map[string]string{"misbehave": "github.com/tocsin-dev/tocsin/cmd/agent/testdata/plugins/misbehave"})
	h := pluginhost.New(nil, dir)
	t.Cleanup(h.Close)
	srv := testserver.StartT(t, testserver.Options{})
	marker := filepath.Join(t.TempDir(), "hang")
	in := h.Instance(pluginhost.Spec{Name: "flaky", Plugin: "misbehave"})
	c, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	if _, err := in.Describe(c); err != nil {
		t.Fatal(err)
	}
	settings, _ := sdk.SettingsFromMap(map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "hang_while": marker})
	if d, err := in.Configure(c, sdk.Config{Transport: "flaky", From: "a@example.com", Settings: settings}); err != nil || d.HasErrors() {
		t.Fatalf("configure: %v %v", d, err)
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(in.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	msg := &sdk.Message{ID: "1@x", Date: time.Now(), Subject: "s", Text: "t"}
	msg.From.Address, msg.To = "a@example.com", []sdk.Address{{Address: "b@example.com"}}
	_, err := in.Send(c, []*sdk.Message{msg})
	if err == nil || !strings.Contains(err.Error(), "configure restarted plugin") || c.Err() != nil {
		t.Fatalf("send through a plugin that hangs in its replayed Configure: %v", err)
	}
	// Once the plugin behaves, the next send starts it again, configured.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	res, err := in.Send(c, []*sdk.Message{msg})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("send once the plugin behaves: %v %v", res, err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("the server got %d messages", n)
	}
}
