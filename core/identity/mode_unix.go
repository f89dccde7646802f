//go:build unix

package identity

import "syscall"

// checkModes: this system has Unix file modes, and key files are held to
// them.
const checkModes = true

// openFlags are added when an operator's file is opened: a FIFO put there
// cannot block the open.
const openFlags = syscall.O_NONBLOCK | syscall.O_CLOEXEC
