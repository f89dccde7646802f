package apiauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecretFile(t *testing.T) {
	const secret = "file-token-0123456789abcdef"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		errHas  []string // nil when no error is expected
	}{
		{"0600, newline", secret + "\n", 0o600, secret, nil},
		{"0400, no newline", secret, 0o400, secret, nil},
		{"CRLF", secret + "\r\n", 0o600, secret, nil},
		{"group-readable", secret + "\n", 0o640, "", []string{"0640", "chmod 600 FILE"}},
		{"world-readable", secret + "\n", 0o604, "", []string{"0604", "chmod 600 FILE"}},
		{"group-writable", secret + "\n", 0o620, "", []string{"0620", "chmod 600 FILE"}},
		{"empty", "", 0o600, "", []string{"empty", "openssl rand -hex 32"}},
		{"only a newline", "\n", 0o600, "", []string{"empty"}},
		{"two lines", secret + "\n" + secret + "\n", 0o600, "", []string{"more than one line"}},
		{"too large", strings.Repeat("a", maxSecretFile+1), 0o600, "", []string{"larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSecretFile(path)
			if tt.errHas == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ReadSecretFile = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadSecretFile = %q, want an error", got)
			}
			for _, want := range tt.errHas {
				want = strings.ReplaceAll(want, "FILE", path)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

func TestReadSecretFile_notAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadSecretFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: error %v", err)
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
