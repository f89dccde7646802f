//go:build !linux

package pluginhost

import (
	"os"
	"os/exec"
)

// isolate does nothing where Linux's process controls are missing.
func isolate(*exec.Cmd) {}

// prepare executes the plugin by its path: without Linux's /proc/self/fd
// the file that runs may differ from the file that was checked.
func (p *pinned) prepare(cmd *exec.Cmd) {
	cmd.Path = p.path
	cmd.Args = append([]string{p.path}, cmd.Args[min(1, len(cmd.Args)):]...)
}

// killGroup kills only the plugin where process groups are not used.
func killGroup(int) {}

// waitExited returns at once; the runner's Wait collects the exit.
func waitExited(int) error { return nil }

// changeTime is not compared off Linux.
func changeTime(os.FileInfo) int { return 0 }
