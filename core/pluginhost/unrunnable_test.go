//go:build linux

package pluginhost_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// inChildEnv marks the test binary run by TestInstance_FileThatCannotRun
// in a process group of its own.
const inChildEnv = "TOCSIN_TEST_PLUGINHOST_IN_CHILD"

// TestInstance_FileThatCannotRun: an executable plugin file the kernel
// cannot run (not a binary, no "#!") is refused with the kernel's reason,
// and cleaning up after it signals nothing: the process was never
// started, so there is no process group to kill, and a kill of group 0
// would be a kill of the agent's own group. The test runs in a child
// process leading a group of its own, so such a kill fails this test
// instead of ending the whole run.
func TestInstance_FileThatCannotRun(t *testing.T) {
	if os.Getenv(inChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInstance_FileThatCannotRun$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), inChildEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestInstance_FileThatCannotRun") {
			t.Fatalf("the test, run in a process group of its own: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	writeExec(t, filepath.Join(dir, "tocsin-plugin-garbage"), "this is not a program\n")
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	t.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "t", Plugin: "garbage"})
	_, err := in.Describe(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "start plugin garbage") || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("describe through a file that cannot run = %v, want the kernel's reason", err)
	}
	if in.Starts() != 0 || in.PID() != 0 {
		t.Errorf("starts %d, pid %d; want none", in.Starts(), in.PID())
	}
}
