//go:build unix

package fsafe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenFile_PlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "created-elsewhere")
	link := filepath.Join(dir, "outbox.db")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(link, os.O_RDWR|os.O_CREATE, 0o600, State)
	if err == nil {
		_ = f.Close()
		t.Fatal("OpenFile followed a planted symlink")
	}
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("error = %v, want ErrUnsafe naming the link", err)
	}
	if _, err := os.Lstat(elsewhere); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
}

func TestReadFile_FIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "t.token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without O_NONBLOCK this open would wait for a writer forever.
	_, err := ReadFile(fifo, 1024, Secret)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("ReadFile(FIFO) = %v, want ErrUnsafe naming a FIFO", err)
	}
}

func TestReadFile_RegularAndLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, 5, Secret)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if _, err := ReadFile(p, 4, Secret); err == nil {
		t.Error("a file over the limit was read")
	}
	if err := os.Chmod(p, 0o604); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, 5, Secret); !errors.Is(err, ErrUnsafe) {
		t.Errorf("a world-readable secret = %v, want ErrUnsafe", err)
	}
}

func TestCheckDataDir_Real(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "data")
	if err := PrepareDataDir(good); err != nil {
		t.Fatalf("PrepareDataDir of a new dir: %v", err)
	}
	fi, err := os.Stat(good)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data_dir created as %v, %v; want mode 0700", fi.Mode(), err)
	}

	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	err = CheckDataDir(open)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w "+open) {
		t.Errorf("world-writable data_dir: %v, want ErrUnsafe saying chmod go-w", err)
	}

	// A safe data_dir below a world-writable, non-sticky parent.
	below := filepath.Join(open, "data")
	if err := os.Mkdir(below, 0o700); err != nil {
		t.Fatal(err)
	}
	err = CheckDataDir(below)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "a parent of data_dir") {
		t.Errorf("data_dir below a world-writable parent: %v, want ErrUnsafe naming the parent", err)
	}
}

func TestCheckDataDir_ForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	// As root, a data_dir of another user is the agent's: accepted. The
	// rule for a non-root agent is covered by TestCheckDataDir.
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(dir); err != nil {
		t.Errorf("root with a data_dir of uid 65534: %v", err)
	}
}

func TestOpenFile_RootGivesFileToDirOwner(t *testing.T) {
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
	f, err := OpenFile(filepath.Join(dir, "outbox.db"), os.O_RDWR|os.O_CREATE, 0o600, State)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	sub := filepath.Join(dir, "tokens", "x")
	if err := MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "outbox.db"), filepath.Join(dir, "tokens"), sub} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s belongs to %d:%d, want 65534:65534", p, st.Uid, st.Gid)
		}
	}
}

func TestOpenFile_HardLinkOfRootFileRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	secret := filepath.Join(base, "shadow")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(dir, "outbox.db")); err != nil {
		t.Skip("no hard links here:", err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFile(filepath.Join(dir, "outbox.db"), os.O_RDWR|os.O_CREATE, 0o600, State)
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("OpenFile of a root file linked into another user's dir = %v, want ErrUnsafe", err)
	}
	fi, _ := os.Stat(secret)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Errorf("the linked file was given to uid %d", st.Uid)
	}
}

// data_dir reached through a link: the parents of the link and of its
// target are both checked.
func TestCheckDataDir_Link(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(open, "data")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(link); err != nil {
		t.Fatalf("data_dir through a link in a safe directory: %v", err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(link); !errors.Is(err, ErrUnsafe) {
		t.Errorf("data_dir through a link in a world-writable directory: %v, want ErrUnsafe", err)
	}
}
