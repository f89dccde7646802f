//go:build unix

package facts

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCheckFile_FIFO checks that a FIFO, which would block a reader until
// a writer comes, is not opened.
func TestCheckFile_FIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var f Fact
	within(t, time.Second, func() {
		f = runCheck(t, Spec{Name: "fifo", Timeout: 3 * time.Second, File: &FileSpec{Path: path}})
	})
	wantOK(t, f, false, "is not a regular file (p")
}
