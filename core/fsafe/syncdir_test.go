package fsafe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	err := SyncDir(missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "sync directory "+missing) {
		t.Fatalf("SyncDir of a missing directory: %v", err)
	}
}
