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
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestInstance_RestartedPluginRefusesItsSettings: a plugin that dies and,
// started again, refuses the replayed settings with an error diagnostic
// does not send unconfigured: the send fails saying why, nothing reaches
// the server, and once the plugin accepts them again the next send starts
// it afresh and goes through.
func TestInstance_RestartedPluginRefusesItsSettings(t *testing.T) {
	c := ctx(t)
	srv := testserver.StartT(t, testserver.Options{})
	in, marker, msg := killedMisbehave(t, c, srv, "refuse_while")
	_, err := in.Send(c, []*sdk.Message{msg})
	if err == nil || !strings.Contains(err.Error(), "configure restarted plugin misbehave") || !strings.Contains(err.Error(), "Refused on purpose") {
		t.Fatalf("send through a restarted plugin that refuses its settings: %v", err)
	}
	if !sdk.IsTemporary(err) {
		t.Errorf("the refusal may pass (the settings were good before): want a temporary error, got %v", err)
	}
	if in.PID() != 0 {
		t.Error("the unconfigured plugin was kept running")
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	res, err := in.Send(c, []*sdk.Message{msg})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("send once the plugin accepts its settings: %v %v", res, err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("the server got %d messages, want 1", n)
	}
	if n := in.Starts(); n != 3 {
		t.Errorf("%d starts, want 3 (the first, the refused, the good)", n)
	}
}

// killedMisbehave configures the misbehave test plugin against srv with
// its setting misbehaviour ("refuse_while", "hang_while") set to a marker
// file, creates the marker (the plugin misbehaves from its next start on)
// and SIGKILLs the plugin, so that the next call restarts it and replays
// its settings. It returns the instance, the marker and a message to send.
func killedMisbehave(t *testing.T, c context.Context, srv *testserver.Server, misbehaviour string) (*pluginhost.Instance, string, *sdk.Message) {
	t.Helper()
	dir := sdktest.PluginDir(t, map[string]string{"misbehave": "github.com/tocsin-dev/tocsin/cmd/agent/testdata/plugins/misbehave"})
	h := pluginhost.New(nil, dir)
	t.Cleanup(h.Close)
	marker := filepath.Join(t.TempDir(), "marker")
	in := h.Instance(pluginhost.Spec{Name: "flaky", Plugin: "misbehave"})
	settings, _ := sdk.SettingsFromMap(map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", misbehaviour: marker})
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
	return in, marker, msg
}
