//go:build unix

package tokenstore

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// A missing key file is reported, not generated: a new key would only
// make every stored token fail to decrypt.
func TestLoadKey_MissingFileNotCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.key")
	_, err := LoadKey(KeySource{File: path})
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKey(missing) = %v, want ErrNoKey", err)
	}
	for _, want := range []string{path, "does not exist", "tocsin oauth login"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKey created the key file: %v", err)
	}
	if _, err := OpenKeySource(filepath.Join(filepath.Dir(path), "tokens"), KeySource{File: path}); !errors.Is(err, ErrNoKey) {
		t.Errorf("OpenKeySource(missing key) = %v, want ErrNoKey", err)
	}
}

// A FIFO at NAME.token is refused at once instead of blocking the reader.
func TestStore_GetFIFO(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := os.MkdirAll(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), "o365.token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get("o365"); !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("Get(FIFO) = %v, want fsafe.ErrUnsafe", err)
	}
	if _, err := s.List(); !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("List with a FIFO = %v, want fsafe.ErrUnsafe", err)
	}
}

// A link planted at NAME.token is not followed.
func TestStore_GetSymlink(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := s.Put(sampleEntry(t, "real")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(s.Dir(), "real.token"), filepath.Join(s.Dir(), "o365.token")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get("o365"); !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("Get(link) = %v, want fsafe.ErrUnsafe", err)
	}
}

// The key file's owner is checked as well as its mode; a key that root
// owns may be readable by its group (root:tocsin 0640).
func TestLoadKey_Owner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other users")
	}
	text := []byte(base64.StdEncoding.EncodeToString(testKey[:]) + "\n")
	dir := t.TempDir()

	shared := filepath.Join(dir, "shared.key")
	if err := os.WriteFile(shared, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o640); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKey(KeySource{File: shared}); err != nil || k != testKey {
		t.Errorf("LoadKey(root:group 0640) = %v", err)
	}

	foreign := filepath.Join(dir, "foreign.key")
	if err := os.WriteFile(foreign, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(KeySource{File: foreign})
	if !errors.Is(err, fsafe.ErrUnsafe) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("LoadKey(key of uid 65534 in root's dir) = %v, want fsafe.ErrUnsafe naming the owner", err)
	}
}

// Run as root against a data_dir of another user (the agent's), a login
// leaves the key, the tokens directory and the token to that user.
func TestStore_RootGivesFilesToDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	src := KeySource{File: filepath.Join(data, "token.key")}
	dir := filepath.Join(data, "tokens")
	s, err := OpenForLogin(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(sampleEntry(t, "o365")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate("o365", "rotated"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{src.File, dir, filepath.Join(dir, "o365.token")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s belongs to %d:%d, want 65534:65534", p, st.Uid, st.Gid)
		}
	}
	// The agent's user reads what root wrote: as root, the files of
	// data_dir's owner are accepted.
	agent, err := OpenKeySource(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if e := mustGet(t, agent, "o365"); e.RefreshToken != "rotated" {
		t.Errorf("token = %q, want the rotated one", e.RefreshToken)
	}
}
