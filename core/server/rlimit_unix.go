//go:build unix

package server

import "syscall"

// openFileLimit returns the process's soft limit on open files
// (RLIMIT_NOFILE), or 0 when it cannot be read. Go raises the soft limit
// to the hard one at start, so this is what the process can use.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}
