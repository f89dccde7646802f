//go:build !linux

package pluginhost

import "os/exec"

// isolate does nothing where Linux's process controls are missing.
func isolate(*exec.Cmd) {}
