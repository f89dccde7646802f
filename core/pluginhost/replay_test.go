package pluginhost_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestInstance_RestartedPluginHangsInConfigure: a plugin that dies and,
// started again, hangs in the replayed Configure does not hold the send
// (or the instance) forever: the replay is bounded, the send fails, and
// the unconfigured process is not used.
func TestInstance_RestartedPluginHangsInConfigure(t *testing.T) {
	defer pluginhost.SetConfigureTimeout(time.Second)()
	srv := testserver.StartT(t, testserver.Options{})
	c, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	in, marker, msg := killedMisbehave(t, c, srv, "hang_while")
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

// TestInstance_RestartReplaysNewestCredential: a plugin that rotated its
// credential twice and then crashed is configured, when started again,
// with the newest credential: not the one it was first given, nor the one
// before the last rotation (both revoked by the provider once rotated).
// A rotation by the restarted plugin counts the same way.
func TestInstance_RestartReplaysNewestCredential(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"rotator": testdataPkg + "rotator"})
	h := pluginhost.New(nil, dir)
	t.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "m365", Plugin: "rotator"})
	c := ctx(t)

	var mu sync.Mutex
	var saved []string
	save := func(v string) {
		mu.Lock()
		defer mu.Unlock()
		saved = append(saved, v)
	}
	cfg := sdk.Config{Transport: "m365", From: "a@example.com", Settings: sdk.NewSettings([]byte(`{}`)), Credential: "rt-1", SaveCredential: save}
	if d, err := in.Configure(c, cfg); err != nil || d.HasErrors() {
		t.Fatalf("configure: %v %v", d, err)
	}
	rotate := func() {
		t.Helper()
		if err := in.Check(c); err != nil {
			t.Fatalf("check (rotates): %v", err)
		}
	}
	crash := func() {
		t.Helper()
		pid := in.PID()
		if pid == 0 {
			t.Fatal("the plugin is not running")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	configuredWith := func() string {
		t.Helper()
		msg := &sdk.Message{ID: "1@x", Date: time.Now(), Subject: "s", Text: "t"}
		msg.From.Address, msg.To = "a@example.com", []sdk.Address{{Address: "b@example.com"}}
		res, err := in.Send(c, []*sdk.Message{msg})
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("send: %v %v", res, err)
		}
		return strings.TrimPrefix(res[0].Receipt, "configured with ")
	}

	if got := configuredWith(); got != "rt-1" {
		t.Fatalf("first start configured with %q, want rt-1", got)
	}
	rotate()
	rotate()
	crash()
	if got := configuredWith(); got != "rt-3" {
		t.Errorf("restarted after two rotations, configured with %q, want the newest, rt-3", got)
	}
	rotate()
	crash()
	if got := configuredWith(); got != "rt-4" {
		t.Errorf("restarted again after a rotation by the restarted plugin, configured with %q, want rt-4", got)
	}
	if n := in.Starts(); n != 3 {
		t.Errorf("%d starts, want 3 (two crashes)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"rt-2", "rt-3", "rt-4"}; !slices.Equal(saved, want) {
		t.Errorf("saved %v, want %v", saved, want)
	}
}

// TestInstance_CrashDuringSend: a plugin process that dies in the middle
// of a Send is started again, configured as before, and the Send is made
// once more on the fresh process, which takes it: the caller sees the
// messages accepted, not the broken call.
func TestInstance_CrashDuringSend(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"crashonce": testdataPkg + "crashonce"})
	h := pluginhost.New(nil, dir)
	t.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "flaky", Plugin: "crashonce"})
	c := ctx(t)
	marker := filepath.Join(t.TempDir(), "crash")
	settings, _ := sdk.SettingsFromMap(map[string]any{"crash_once": marker})
	if d, err := in.Configure(c, sdk.Config{Transport: "flaky", From: "a@example.com", Settings: settings}); err != nil || d.HasErrors() {
		t.Fatalf("configure: %v %v", d, err)
	}
	first := in.PID()
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := in.Send(c, []*sdk.Message{message("1@x", "b@example.com")})
	if _, serr := os.Stat(marker); !os.IsNotExist(serr) {
		t.Fatalf("the plugin did not crash (marker: %v); the test shows nothing", serr)
	}
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("send through a plugin that died during it: %v %+v; want it sent by the fresh process", err, res)
	}
	if res[0].Receipt == "pid "+strconv.Itoa(first) || in.Starts() != 2 {
		t.Errorf("receipt %q, %d starts; want the second process (the first was pid %d)", res[0].Receipt, in.Starts(), first)
	}
}
