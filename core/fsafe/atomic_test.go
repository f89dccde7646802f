package fsafe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	for _, text := range []string{"first", "second, longer than the first"} {
		if err := WriteFileAtomic(dir, "state.json", []byte(text)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err != nil || string(got) != text {
			t.Fatalf("read %q, %v; want %q", got, err, text)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("%d files in the directory, want the one (no temporary file left)", len(ents))
	}
}

func TestWriteFileAtomic_failureLeavesOld(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFileAtomic(dir, "state.json", []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A directory where the file would go: the rename fails.
	if err := WriteFileAtomic(dir, ".", []byte("new")); err == nil {
		t.Fatal("no error renaming over the directory itself")
	}
	if err := WriteFileAtomic(filepath.Join(dir, "absent"), "state.json", []byte("new")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("error %v, want one naming the missing directory", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "state.json"))
	if string(got) != "old" {
		t.Errorf("the file holds %q after failed writes, want the old one", got)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
