package apiauth

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestEnsureLocalToken(t *testing.T) {
	dir := t.TempDir()
	secret, err := EnsureLocalToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := hex.DecodeString(secret); err != nil || len(b) != 32 {
		t.Fatalf("token %q is not 32 bytes in hex", secret)
	}
	path := LocalTokenPath(dir)
	if path != filepath.Join(dir, "admin.token") {
		t.Errorf("LocalTokenPath = %q", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %#o, want 0600", perm)
	}
	again, err := EnsureLocalToken(dir)
	if err != nil || again != secret {
		t.Fatalf("second call = %q, %v; want the first token", again, err)
	}
	// The CLI reads the same file as a token file.
	if got, err := ReadSecretFile(path); err != nil || got != secret {
		t.Errorf("ReadSecretFile = %q, %v", got, err)
	}
	if _, err := NewToken(LocalCredentialName, RoleAdmin, secret); err != nil {
		t.Errorf("the local token is not a valid token: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data_dir holds %d files, want only admin.token (no temporary file left)", len(entries))
	}
	other, err := EnsureLocalToken(t.TempDir())
	if err != nil || other == secret {
		t.Errorf("another data_dir: %q, %v; want a different token", other, err)
	}
}

func TestEnsureLocalToken_refused(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		errHas  string
	}{
		{"group-readable", strings.Repeat("ab", 32) + "\n", 0o640, "chmod 600"},
		{"owner-executable", strings.Repeat("ab", 32) + "\n", 0o700, "chmod 600"},
		{"empty", "", 0o600, "does not hold a token"},
		{"short", "abc\n", 0o600, "does not hold a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := LocalTokenPath(dir)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := EnsureLocalToken(dir)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("EnsureLocalToken = %q, %v; want an error with %q", got, err, tt.errHas)
			}
			if tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Errorf("error %q holds the token", err)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("the refused file was changed")
			}
		})
	}
}

func TestEnsureLocalToken_link(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, LocalTokenPath(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureLocalToken(dir); err == nil {
		t.Fatal("a link at admin.token was followed")
	}
}

func TestEnsureLocalToken_noDataDir(t *testing.T) {
	if _, err := EnsureLocalToken(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("no error for a missing data_dir")
	}
}

func TestEnsureLocalToken_race(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = EnsureLocalToken(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("caller %d: %q, %v; want all the same token", i, got[i], errs[i])
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data_dir holds %d files, want 1", len(entries))
	}
}
