//go:build !windows && !plan9 && !solaris && !aix && !android

package rules

import (
	"errors"
	"os"
	"syscall"
)

// errWouldBlock is lockFile's error when another process holds the lock.
var errWouldBlock = errors.New("locked")

// lockFile takes the exclusive lock bbolt takes (flock), without waiting.
// Closing f releases it.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errWouldBlock
	}
	return err
}
