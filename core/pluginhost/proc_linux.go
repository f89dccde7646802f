package pluginhost

import (
	"os/exec"
	"syscall"
)

// isolate puts the plugin in its own process group, so a Ctrl-C or a
// signal to the agent's group reaches only the agent, which then stops its
// plugins in order; and asks the kernel to kill the plugin if the agent
// dies without stopping it (kill -9), so no orphan keeps running.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
