package pluginhost

import (
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// isolate puts the plugin in its own process group, so a Ctrl-C or a
// signal to the agent's group reaches only the agent, which then stops its
// plugins in order, and the host can kill the plugin with everything it
// started; and asks the kernel to kill the plugin if the agent dies
// without stopping it (kill -9), so no orphan keeps running.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// prepare makes cmd execute the open file: it is handed to the plugin as
// descriptor 3, without close-on-exec, and executed as /proc/self/fd/3,
// which in the new process names that descriptor. The kernel loads a
// binary from it; an interpreter named on a "#!" line opens it by that
// name and reads the very file that was checked. argv[0] stays the path.
func (p *pinned) prepare(cmd *exec.Cmd) {
	cmd.Path = "/proc/self/fd/3"
	cmd.Args = append([]string{p.path}, cmd.Args[min(1, len(cmd.Args)):]...)
	cmd.ExtraFiles = []*os.File{p.f}
}

// killGroup sends SIGKILL to process group pgid. The caller makes sure
// the group's leader is not yet reaped, so pgid cannot name another
// group.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitExited blocks until process pid has exited, without collecting it
// (WNOWAIT), so its pid, which is also its group's id, stays reserved.
func waitExited(pid int) error {
	const pPID = 1     // P_PID
	var info [128]byte // siginfo_t, not read
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return e
		}
	}
}

// changeTime returns a file's status change time, which every write and
// chmod moves and no user can set.
func changeTime(info os.FileInfo) syscall.Timespec {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ctim
	}
	return syscall.Timespec{}
}
