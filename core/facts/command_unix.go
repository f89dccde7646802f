//go:build unix

package facts

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// isolate starts cmd in a process group of its own and makes the end of
// its context kill that whole group, so that nothing the command started
// outlives the timeout.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
}

// killGroup kills the process group led by pid; os.ErrProcessDone when
// the group is gone already.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
