//go:build unix

package outbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// A link planted at data_dir/outbox.db must not make Open create or write
// the file it points to.
func TestOpen_PlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "elsewhere.db")
	path := filepath.Join(dir, "outbox.db")
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	ob, err := Open(path, Options{})
	if err == nil {
		_ = ob.Close()
		t.Fatal("Open followed a planted symlink")
	}
	if !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("Open = %v, want fsafe.ErrUnsafe", err)
	}
	if _, err := os.Lstat(elsewhere); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
}

// Open refuses a world-writable directory.
func TestOpen_WorldWritableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ob, err := Open(filepath.Join(dir, "outbox.db"), Options{})
	if err == nil {
		_ = ob.Close()
		t.Fatal("Open accepted a world-writable directory")
	}
	if !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("Open = %v, want fsafe.ErrUnsafe", err)
	}
}

// Run as root against a data_dir of another user (the agent's), Open
// leaves the new file to that user.
func TestOpen_RootGivesFileToDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "outbox.db")
	ob, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Errorf("outbox.db belongs to uid %d, want 65534", st.Uid)
	}
}

// Recover run as root leaves the new outbox to data_dir's owner.
func TestRecover_RootGivesFileToDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	d := buildDataset(t, "tiny")
	badRecord.do(t, d)
	dir := filepath.Dir(d.path)
	for _, p := range []string{dir, d.path} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Recover(d.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.path, rep.MovedTo} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
			t.Errorf("%s belongs to uid %d, want 65534", p, st.Uid)
		}
	}
}
