//go:build unix

package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// A link planted at data_dir/state.db must not make OpenStore create or
// write the file it points to.
func TestOpenStore_PlantedSymlink(t *testing.T) {
	elsewhere := filepath.Join(t.TempDir(), "elsewhere.db")
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("OpenStore followed a planted symlink")
	}
	if !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("OpenStore = %v, want fsafe.ErrUnsafe", err)
	}
	if _, err := os.Lstat(elsewhere); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
}

// Run as root against a data_dir of another user, OpenStore leaves the
// new file to that user.
func TestOpenStore_RootGivesFileToDataDirOwner(t *testing.T) {
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
	path := filepath.Join(dir, "state.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Errorf("state.db belongs to uid %d, want 65534", st.Uid)
	}
}
