//go:build !windows && !plan9 && !solaris && !aix && !android

package boltsalvage

import (
	"errors"
	"os"
	"syscall"
)

// ErrWouldBlock is LockFile's error when another process holds the lock.
var ErrWouldBlock = errors.New("locked")

// LockFile takes the exclusive lock bbolt takes (flock), without waiting.
// Closing f releases it.
func LockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrWouldBlock
	}
	return err
}
