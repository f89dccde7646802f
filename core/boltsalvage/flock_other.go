//go:build windows || plan9 || solaris || aix || android

package boltsalvage

import (
	"errors"
	"os"
)

// ErrWouldBlock is LockFile's error when another process holds the lock.
var ErrWouldBlock = errors.New("locked")

// LockFile does nothing where bbolt does not lock with flock: the caller's
// read-only bbolt open has already found the file unlocked.
func LockFile(*os.File) error { return nil }
