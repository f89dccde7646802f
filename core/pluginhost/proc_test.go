//go:build linux

package pluginhost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// groupMembers returns the live (not zombie) processes in process group
// pgid, read from /proc.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// waitGroupGone waits until no live process is left in group pgid, and
// fails the test with the survivors when some remain after a while. A
// SIGKILL takes effect asynchronously, so a short wait is needed even
// when the host did everything right.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := groupMembers(t, pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL) // do not leave them behind
			}
			t.Fatalf("processes of the plugin's group %d survived its stop: %v", pgid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stopCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestHost_StopKillsPluginChildren: a plugin that starts `sleep 1000` in
// Configure and never waits for it. Stopping the plugin must stop the
// sleep too (it used to be left running with ppid 1 after every
// validate, test-send and run).
func TestHost_StopKillsPluginChildren(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"spawner": testdataPkg + "spawner"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	in := h.Instance(pluginhost.Spec{Name: "s", Plugin: "spawner"})
	s, err := sdk.SettingsFromMap(map[string]any{"host": "127.0.0.1", "port": 2525, "security": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Configure(ctx(t), sdk.Config{Transport: "s", From: "tocsin@example.com", Settings: s}); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	if m := groupMembers(t, pid); len(m) < 2 {
		t.Fatalf("the plugin's group holds %v; want the plugin and its sleep (is the plugin in its own group?)", m)
	}
	if err := h.Shutdown(stopCtx(t)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitGroupGone(t, pid)
}

// TestHost_StopDoesNotWaitForInheritedPipes: a plugin that, before it
// serves, starts `sleep 1000` with its stdout and stderr. go-plugin's
// Kill waited for those pipes to close, so validate and test-send hung
// after their work was done and the agent ignored SIGTERM.
func TestHost_StopDoesNotWaitForInheritedPipes(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"inheritor": testdataPkg + "inheritor"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	in := h.Instance(pluginhost.Spec{Name: "i", Plugin: "inheritor"})
	if _, err := in.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	err := h.Shutdown(stopCtx(t))
	if err != nil {
		t.Errorf("shutdown: %v", err)
	}
	waitGroupGone(t, pid)
}

// children returns the live processes whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) >= 2 && f[0] != "Z" {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, child)
			}
		}
	}
	return out
}

// TestHost_StopDoesNotWaitForAnEscapedChild: a plugin's child that left
// the plugin's process group (setsid) and holds its stdout and stderr is
// out of reach of the group kill; stopping the plugin must still return,
// and in time.
func TestHost_StopDoesNotWaitForAnEscapedChild(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"escaper": testdataPkg + "escaper"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	in := h.Instance(pluginhost.Spec{Name: "e", Plugin: "escaper"})
	if _, err := in.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	escaped := children(t, in.PID())
	if len(escaped) == 0 {
		t.Fatal("the plugin's child is not there")
	}
	t.Cleanup(func() {
		for _, pid := range escaped {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := h.Shutdown(stopCtx(t)); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// copyFile copies src to dst with mode 0755 and extra bytes appended (an
// ELF binary runs the same with bytes after its end, but hashes apart).
func copyFile(t *testing.T, src, dst string, extra string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, append(b, extra...), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestHost_PinRaceRunsOnlyThePinnedFile swaps a symlink between a pinned
// and an unpinned copy of a plugin as fast as it can while the host
// starts the plugin through the link over and over. Each copy marks a
// file as it runs; the unpinned one must never have run. (Checking the
// path and then executing the path ran the unpinned binary 38 times in
// 300 test-sends.)
func TestHost_PinRaceRunsOnlyThePinnedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the plugin many times")
	}
	src := sdktest.Build(t, testdataPkg+"marker", "tocsin-plugin-marker")
	dir := t.TempDir()
	good, evil := filepath.Join(dir, "good"), filepath.Join(dir, "evil")
	copyFile(t, src, good, "")
	copyFile(t, src, evil, "not the pinned file")
	sum, err := pluginhost.Checksum(good)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "tocsin-plugin-marker")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tmp := link + ".new"
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := good
			if i%2 == 1 {
				target = evil
			}
			_ = os.Remove(tmp)
			if err := os.Symlink(target, tmp); err == nil {
				_ = os.Rename(tmp, link)
			}
			runtime.Gosched()
		}
	}()

	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	const starts = 80
	var ok, refused int
	for i := 0; i < starts; i++ {
		in := h.Instance(pluginhost.Spec{Name: "m", Plugin: "marker", Path: link, SHA256: sum})
		_, err := in.Describe(ctx(t))
		var ce *pluginhost.ChecksumError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce):
			refused++
		default:
			t.Logf("start %d: %v", i, err)
		}
		if err := in.Stop(stopCtx(t)); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d starts: %d ran the pinned file, %d refused", starts, ok, refused)
	if _, err := os.Stat(evil + ".ran"); err == nil {
		t.Errorf("the unpinned binary ran")
	}
	if _, err := os.Stat(good + ".ran"); err != nil || ok == 0 {
		t.Fatalf("the pinned binary never ran, so the test shows nothing: %v", err)
	}
}

// TestHost_ScriptPlugin: a `#!/bin/sh` plugin that execs a real plugin
// binary starts through the host, pinned by the script's own hash, and
// a changed script is refused.
func TestHost_ScriptPlugin(t *testing.T) {
	real := sdktest.Build(t, "github.com/tocsin-dev/tocsin/plugins/smtp-basic", "tocsin-plugin-smtp-basic")
	dir := t.TempDir()
	script := filepath.Join(dir, "tocsin-plugin-wrapped")
	body := fmt.Sprintf("#!/bin/sh\n# a wrapper, as a packager might ship one\nexec %q \"$@\"\n", real)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := pluginhost.Checksum(script)
	if err != nil {
		t.Fatal(err)
	}
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()

	in := h.Instance(pluginhost.Spec{Name: "w", Plugin: "wrapped", SHA256: sum})
	d, err := in.Describe(ctx(t))
	if err != nil {
		t.Fatalf("describe through a pinned script: %v", err)
	}
	if d.Name != "smtp-basic" {
		t.Errorf("described %q, want smtp-basic", d.Name)
	}
	if err := in.Stop(stopCtx(t)); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(script, []byte(body+"# changed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	in = h.Instance(pluginhost.Spec{Name: "w2", Plugin: "wrapped", SHA256: sum})
	var ce *pluginhost.ChecksumError
	if _, err := in.Describe(ctx(t)); !errors.As(err, &ce) {
		t.Errorf("a changed script: err = %v, want a ChecksumError", err)
	}
}
