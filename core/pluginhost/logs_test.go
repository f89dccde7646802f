package pluginhost_test

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// waitNotRunning waits until the instance no longer reports a process,
// which it does once go-plugin has seen the plugin exit.
func waitNotRunning(t *testing.T, in *pluginhost.Instance) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.PID() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's exit was not noticed: PID still says %d", in.PID())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHost_QuietWhenAllGoesWell: the agent's log warns about stopping,
// restarting and cleaning up only when something went wrong: a plugin
// that stops when asked, one that died and was started again, and one
// that failed to start and was cleaned up leave no warning that a stop
// failed. (An operator reads such a warning as a plugin that had to be
// killed.) The exited plugin also reports no process any more.
func TestHost_QuietWhenAllGoesWell(t *testing.T) {
	dir := pluginDir(t)
	logs := &syncBuffer{}
	h := pluginhost.New(hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs}), dir)
	in := h.Instance(pluginhost.Spec{Name: "a", Plugin: "smtp-basic"})
	c := ctx(t)
	if _, err := in.Describe(c); err != nil {
		t.Fatal(err)
	}
	in.Kill()
	if in.PID() != 0 {
		t.Error("a killed plugin still reports a process")
	}

	if _, err := in.Describe(c); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(in.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNotRunning(t, in)
	if _, err := in.Describe(c); err != nil {
		t.Fatalf("describe after the plugin died: %v", err)
	}
	if n := strings.Count(logs.String(), "plugin process exited; starting it again"); n != 1 {
		t.Errorf("the log tells of %d restarts of an exited plugin, want 1 (the first start and the start after Kill are none)", n)
	}
	if started := regexp.MustCompile(`plugin started: .* pid=` + strconv.Itoa(in.PID()) + ` `); !started.MatchString(logs.String()) {
		t.Errorf("the log does not say the plugin started as pid %d:\n%s", in.PID(), logs)
	}

	bad := t.TempDir()
	writeExec(t, filepath.Join(bad, "tocsin-plugin-silent"), "#!/bin/sh\nexit 1\n")
	failing := pluginhost.New(hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs}), bad)
	if _, err := failing.Instance(pluginhost.Spec{Name: "s", Plugin: "silent"}).Describe(c); err == nil {
		t.Fatal("a plugin that exits at once started")
	}
	failing.Close()
	h.Close()

	for _, noise := range []string{
		"did not stop in time",                   // Kill, Close
		"cleaning up after the exited plugin",    // the restart
		"stopping a plugin that failed to start", // the failed start
		"waiting for the plugin's exit",          // every exit
	} {
		if strings.Contains(logs.String(), noise) {
			t.Errorf("the log says %q though nothing went wrong:\n%s", noise, logs)
		}
	}
}
