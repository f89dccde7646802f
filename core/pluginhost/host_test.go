package pluginhost_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestHost_FindAndAvailable(t *testing.T) {
	h, _ := newHost(t)
	names, err := h.Available()
	if err != nil || len(names) != 1 || names[0] != "smtp-basic" {
		t.Fatalf("Available = %v, %v", names, err)
	}
	if _, err := h.Find("smtp-basic", ""); err != nil {
		t.Errorf("Find smtp-basic: %v", err)
	}
	_, err = h.Find("no-such", "")
	if !errors.Is(err, pluginhost.ErrNotFound) || !strings.Contains(err.Error(), "smtp-basic") {
		t.Errorf("Find no-such = %v; want ErrNotFound listing what is installed", err)
	}
}

// copyPlugin copies the smtp-basic binary to dir, optionally with extra
// bytes appended so its checksum changes.
func copyPlugin(t *testing.T, h *pluginhost.Host, dir string, extra []byte) string {
	t.Helper()
	src, err := h.Find("smtp-basic", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "tocsin-plugin-smtp-basic")
	if err := os.WriteFile(dst, append(b, extra...), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestHost_ChecksumPin(t *testing.T) {
	h, _ := newHost(t)
	dir := t.TempDir()
	good := copyPlugin(t, h, dir, nil)
	goodSum, err := pluginhost.Checksum(good)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("matching pin starts", func(t *testing.T) {
		in := h.Instance(pluginhost.Spec{Name: "a", Plugin: "smtp-basic", Path: good, SHA256: strings.ToUpper(goodSum)})
		if _, err := in.Describe(ctx(t)); err != nil {
			t.Fatalf("describe: %v", err)
		}
	})

	t.Run("changed file is not started", func(t *testing.T) {
		tampered := copyPlugin(t, h, t.TempDir(), []byte("tampered"))
		badSum, _ := pluginhost.Checksum(tampered)
		in := h.Instance(pluginhost.Spec{Name: "b", Plugin: "smtp-basic", Path: tampered, SHA256: goodSum})
		_, err := in.Describe(ctx(t))
		var ce *pluginhost.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a ChecksumError", err)
		}
		if !strings.Contains(err.Error(), goodSum) || !strings.Contains(err.Error(), badSum) {
			t.Errorf("error must name both hashes: %v", err)
		}
		if in.PID() != 0 || in.Starts() != 0 {
			t.Errorf("a plugin failing its pin was started (pid %d)", in.PID())
		}
		_, err = in.Send(ctx(t), []*sdk.Message{message("x@t", "a@example.com")})
		if sdk.IsTemporary(err) {
			t.Errorf("send through a plugin failing its pin must be a permanent error, got %v", err)
		}
	})
}

// TestHost_RestartAfterKill kills the plugin with SIGKILL and checks the next
// send starts it again, configured as before, and succeeds.
func TestHost_RestartAfterKill(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, logs := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if _, err := in.Send(ctx(t), []*sdk.Message{message("before@t", "a@example.com")}); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Send at once, racing go-plugin's notice of the exit: the host must
	// cope either way.
	res, err := in.Send(ctx(t), []*sdk.Message{message("after@t", "a@example.com")})
	if err != nil || res[0].Err != nil {
		t.Fatalf("send after kill: %v %+v", err, res)
	}
	if in.Starts() != 2 || in.PID() == pid || in.PID() == 0 {
		t.Errorf("starts = %d, pid %d -> %d; want a second process", in.Starts(), pid, in.PID())
	}
	got, err := srv.Wait(ctx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got[len(got)-1].Data), "after@t") {
		t.Error("the message after the restart did not arrive")
	}
	if !strings.Contains(logs.String(), "starting it again") {
		t.Error("the restart was not logged")
	}
}

func TestHost_CloseStopsPlugins(t *testing.T) {
	dir := pluginDir(t)
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	in := h.Instance(pluginhost.Spec{Name: "a", Plugin: "smtp-basic"})
	if _, err := in.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	h.Close()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still runs after Close", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := in.Describe(ctx(t)); err == nil {
		t.Error("a closed host started a plugin")
	}
}

// TestHost_NoSecretInLogsOrErrors plants a password, provokes failures and
// greps everything the host and plugin printed and returned.
func TestHost_NoSecretInLogsOrErrors(t *testing.T) {
	const secret = "PLANTED-s3cret-Value-9f8e7d"
	srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"alice": "other"}, AllowInsecureAuth: true})
	h, logs := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "username": "alice", "password": secret, "allow_insecure_auth": true, "tls_skip_verify": true})
	var texts []string
	for _, d := range diags {
		texts = append(texts, d.Summary, d.Detail)
	}
	_, err := in.Send(ctx(t), []*sdk.Message{message("x@t", "a@example.com")})
	if err == nil {
		t.Fatal("send with a wrong password succeeded")
	}
	de := sdk.AsDeliveryError(err)
	texts = append(texts, err.Error(), de.Reply, de.Remedy)
	if cerr := in.Check(ctx(t)); cerr != nil {
		texts = append(texts, cerr.Error())
	}
	texts = append(texts, logs.String())
	for i, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked in text %d: %q", i, s)
		}
	}
	if !strings.Contains(logs.String(), "verification is OFF") {
		t.Error("tls_skip_verify was not warned about in the log (the log under test may be missing plugin output)")
	}
}

// TestInstance_SendWithoutPluginIsPermanent: a Send through a transport
// whose plugin is not installed (none in the plugin directory, or no file
// at its path) fails permanently, with a remedy saying to install it: the
// next transport of the contact's chain takes over at once, rather than
// after max_age of retries that cannot work.
func TestInstance_SendWithoutPluginIsPermanent(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		spec pluginhost.Spec
	}{
		{name: "not in the plugin directory", spec: pluginhost.Spec{Name: "relay", Plugin: "no-such"}},
		{name: "no file at its path", spec: pluginhost.Spec{Name: "relay", Plugin: "smtp-basic", Path: filepath.Join(dir, "gone")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pluginhost.New(hclog.NewNullLogger(), dir)
			t.Cleanup(h.Close)
			in := h.Instance(tt.spec)
			_, err := in.Send(ctx(t), []*sdk.Message{message("x@t", "a@example.com")})
			if err == nil {
				t.Fatal("send through a plugin that is not installed succeeded")
			}
			de := sdk.AsDeliveryError(err)
			if !errors.Is(err, pluginhost.ErrNotFound) || de.Kind != sdk.Permanent || !strings.Contains(de.Remedy, "Install the plugin") {
				t.Errorf("send = %v (remedy %q), want a permanent ErrNotFound saying to install the plugin", err, de.Remedy)
			}
		})
	}
}
