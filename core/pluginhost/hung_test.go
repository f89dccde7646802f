//go:build linux

package pluginhost_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// TestInstance_StopKillsAHungPlugin: a plugin that does not answer at all
// (here it is stopped with SIGSTOP, so it cannot even answer go-plugin's
// request to shut down) is killed with its process group once the
// caller's deadline has passed, and Stop says so instead of waiting for
// ever.
func TestInstance_StopKillsAHungPlugin(t *testing.T) {
	h := pluginhost.New(hclog.NewNullLogger(), pluginDir(t))
	t.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "a", Plugin: "smtp-basic"})
	if _, err := in.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	done, cancel := context.WithCancel(context.Background())
	cancel()
	err := in.Stop(done)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "its process group was killed") {
		t.Errorf("stop of a hung plugin = %v, want it killed once the context is done", err)
	}
	waitGroupGone(t, pid)
}
