package tokenstore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealed_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := KeySource{File: filepath.Join(dir, "token.key")}
	plain := []byte(`{"password":"hunter2-sealed"}`)
	if _, err := LoadSealed(dir, "s.sealed", src, "a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	if err := SaveSealed(dir, "s.sealed", src, "a", plain); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "s.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("hunter2")) {
		t.Fatalf("the file holds the secret in clear: %s", raw)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "s.sealed")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	got, err := LoadSealed(dir, "s.sealed", src, "a")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("LoadSealed = %q, %v", got, err)
	}
	if _, err := LoadSealed(dir, "s.sealed", src, "b"); !errors.Is(err, ErrWrongKey) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("another ad: %v, want ErrWrongKey", err)
	}
}
