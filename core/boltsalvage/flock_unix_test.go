//go:build !windows && !plan9 && !solaris && !aix && !android

package boltsalvage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := open(), open()
	defer b.Close()
	if err := LockFile(a); err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file: b is another holder.
	if err := LockFile(b); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("a second lock: %v, want ErrWouldBlock", err)
	}
	_ = a.Close()
	if err := LockFile(b); err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
}
