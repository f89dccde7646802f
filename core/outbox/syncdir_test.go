package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// swapSyncDir makes Open call f to sync directories until the test ends.
// Tests that use it must not be parallel.
func swapSyncDir(t *testing.T, f func(dir string) error) {
	t.Helper()
	old := syncDir
	syncDir = f
	t.Cleanup(func() { syncDir = old })
}

// Open syncs the directory once the new outbox file exists in it, so that
// the file's name survives a crash; a failed sync fails Open and leaves
// the file free for the next try.
func TestOpen_SyncsDirAfterCreatingFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "outbox.db")
	var synced []string
	swapSyncDir(t, func(d string) error {
		st, err := os.Stat(path)
		if err != nil || st.Size() == 0 {
			t.Errorf("directory %s synced before the outbox file was written: %v", d, err)
		}
		synced = append(synced, d)
		return fsafe.SyncDir(d)
	})
	ob, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Fatalf("synced %q, want the outbox's directory %q once", synced, dir)
	}
}

func TestOpen_DirSyncFailureReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	boom := errors.New("sync directory: input/output error")
	swapSyncDir(t, func(string) error { return boom })
	ob, err := Open(path, Options{})
	if err == nil {
		_ = ob.Close()
		t.Fatal("Open succeeded although the directory could not be synced")
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want an error naming %s and wrapping the sync error", err, path)
	}
	// The failed Open released the file: the next one gets it.
	swapSyncDir(t, fsafe.SyncDir)
	ob, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after a failed directory sync: %v", err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
}
