package pluginhost

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPinned_ChangedInPlace: a file written in place after it was opened
// and checked is refused. Here it grows by a byte; a write of the same
// size is caught by the change time, to the resolution of the kernel's
// file clock, which a test cannot rely on.
func TestPinned_ChangedInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin-plugin-x")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := openPinned(path, sum)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.unchanged(); err != nil {
		t.Fatalf("unchanged file: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("#!/bin/sh\nexit 10\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := p.unchanged(); !errors.Is(err, errChanged) {
		t.Errorf("file written in place: err = %v, want errChanged", err)
	}
}
