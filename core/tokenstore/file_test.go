package tokenstore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A write that fails must be reported even though the mode change and the
// flush after it would succeed: otherwise writeFileAtomic renames a partial
// token file over the good one.
func TestWriteSynced_FailedWriteIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read-only: Write fails, Chmod and Sync do not
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSynced(f, []byte("token")); err == nil {
		t.Fatal("writeSynced on a read-only file = nil, want the write error")
	}
}

// A rename that fails leaves the old file in place, reports the error and
// removes the temporary file.
func TestWriteFileAtomic_FailedRenameIsReported(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory where the file should go: rename cannot
	// replace it.
	if err := os.MkdirAll(filepath.Join(dir, "target", "keep"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(dir, "target", []byte("new")); err == nil {
		t.Fatal("writeFileAtomic over a non-empty directory = nil, want the rename error")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// A successful write replaces the file with exactly the new data, mode
// 0600, and leaves no temporary file.
func TestWriteFileAtomic_Replaces(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("old, longer than the new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(dir, "f", []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || !bytes.Equal(got, []byte("new")) {
		t.Fatalf("file holds %q (%v), want %q", got, err, "new")
	}
	info, err := os.Stat(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if m := info.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only f", len(ents))
	}
}

// writeFileAtomic flushes the new data before the rename makes it the
// file, and flushes the directory after it, so that a crash leaves the old
// file or the whole new one.
func TestWriteFileAtomic_FlushesBeforeAndAfterRename(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var events []string
	state := func() string {
		b, _ := os.ReadFile(target)
		return string(b)
	}
	origFile, origDir := syncFile, syncDir
	t.Cleanup(func() { syncFile, syncDir = origFile, origDir })
	syncFile = func(f *os.File) error {
		events = append(events, "sync file, target holds "+state())
		return origFile(f)
	}
	syncDir = func(d string) error {
		events = append(events, "sync dir, target holds "+state())
		return origDir(d)
	}
	if err := writeFileAtomic(dir, "f", []byte("new")); err != nil {
		t.Fatal(err)
	}
	want := []string{"sync file, target holds old", "sync dir, target holds new"}
	if strings.Join(events, "; ") != strings.Join(want, "; ") {
		t.Errorf("events %q, want %q", events, want)
	}
}
