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

// TestSealed_Size: the cap is on the sealed file, so that what SaveSealed
// writes LoadSealed reads: the largest content that fits is saved and
// read back whole, one byte more is refused and leaves the old file.
func TestSealed_Size(t *testing.T) {
	dir := t.TempDir()
	src := KeySource{File: filepath.Join(dir, "token.key")}
	if err := SaveSealed(dir, "s.sealed", src, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "s.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	// The envelope is JSON around the base64 of the ciphertext, which is
	// the content and a 16-byte tag: 4 bytes for every 3 of those, and a
	// fixed rest, which the one-byte file shows.
	b64 := func(n int) int { return 4 * ((n + 16 + 2) / 3) }
	rest := int(fi.Size()) - b64(1)
	largest := bytes.Repeat([]byte("a"), 3*((MaxSealedSize-rest)/4)-16)
	if err := SaveSealed(dir, "s.sealed", src, "a", largest); err != nil {
		t.Fatalf("the largest content that fits: %v", err)
	}
	got, err := LoadSealed(dir, "s.sealed", src, "a")
	if err != nil || len(got) != len(largest) {
		t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(largest))
	}
	if err := SaveSealed(dir, "s.sealed", src, "a", append(largest, 'b')); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("one byte more: %v, want a refusal", err)
	}
	if got, err := LoadSealed(dir, "s.sealed", src, "a"); err != nil || len(got) != len(largest) {
		t.Errorf("after the refusal the file reads %d bytes, %v; want the old %d", len(got), err, len(largest))
	}
}
