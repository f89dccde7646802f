package boltsalvage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	now := time.Date(2026, 12, 5, 20, 1, 2, 0, time.FixedZone("x", 3600))
	for i, want := range []string{path + ".corrupt-20261205T190102Z", path + ".corrupt-20261205T190102Z-2"} {
		if err := os.WriteFile(path, []byte("damaged "+want), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "new.tmp")
		if err := os.WriteFile(tmp, []byte("salvaged"), 0o600); err != nil {
			t.Fatal(err)
		}
		moved, err := Replace(path, tmp, now)
		if err != nil || moved != want {
			t.Fatalf("Replace %d: %q, %v; want %q", i, moved, err, want)
		}
		if b, _ := os.ReadFile(path); string(b) != "salvaged" {
			t.Fatalf("%s holds %q", path, b)
		}
		if b, _ := os.ReadFile(moved); string(b) != "damaged "+want {
			t.Fatalf("%s holds %q", moved, b)
		}
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s is still there: %v", tmp, err)
		}
	}
}

func TestReplace_CannotMoveAside(t *testing.T) {
	// The damaged file is missing: tmp is removed, path not created.
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	tmp := filepath.Join(dir, "new.tmp")
	if err := os.WriteFile(tmp, []byte("salvaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	moved, err := Replace(path, tmp, time.Now())
	if err == nil || moved != "" {
		t.Fatalf("Replace: %q, %v", moved, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is still there: %v", tmp, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists: %v", path, err)
	}
}
