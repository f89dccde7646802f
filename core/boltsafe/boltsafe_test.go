package boltsafe_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tocsin-dev/tocsin/core/boltsafe"
	"github.com/tocsin-dev/tocsin/core/fsafe"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	failed := errors.New("failed")
	tests := []struct {
		name      string
		f         func() error
		want      error  // returned as it is
		wantPanic string // else: the *PanicError's text
	}{
		{name: "nil", f: func() error { return nil }},
		{name: "error", f: func() error { return failed }, want: failed},
		{name: "panic", f: func() error { panic("page 7: invalid page type") }, wantPanic: "damaged database: page 7: invalid page type"},
		{name: "runtime error", f: func() error {
			var m map[string]int
			//lint:ignore SA5000 the nil map write is the runtime error under test
			m["x"]++
			return nil
		}, wantPanic: "damaged database: assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := boltsafe.Guard(tt.f)
			if tt.wantPanic == "" {
				if err != tt.want {
					t.Errorf("Guard = %v, want %v", err, tt.want)
				}
				return
			}
			var p *boltsafe.PanicError
			if !errors.As(err, &p) || err.Error() != tt.wantPanic || p.Value == nil {
				t.Errorf("Guard = %v (%T), want a *PanicError %q", err, err, tt.wantPanic)
			}
		})
	}
}

// TestGuard_fault reads a mapped page that is no longer in the file: the
// memory fault becomes a *PanicError, and the fault setting is restored.
func TestGuard_fault(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows does not let a mapped file be truncated")
	}
	path := filepath.Join(t.TempDir(), "fault.db")
	db := create(t, path, 2000)
	size := fileSize(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := boltsafe.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := os.Truncate(path, 4*4096); err != nil {
		t.Fatal(err)
	}
	err = boltsafe.Guard(func() error {
		return ro.View(func(tx *bolt.Tx) error { return boltsafe.ReadThrough(tx, size) })
	})
	var p *boltsafe.PanicError
	if !errors.As(err, &p) {
		t.Fatalf("reading a truncated mapping: %v, want a *PanicError", err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, "held.db")
	create(t, held, 1) // left open: its lock is held
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(held, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		check  func(error) bool
		expect string
	}{
		{name: "new file", path: filepath.Join(dir, "new.db"), check: func(err error) bool { return err == nil }, expect: "no error"},
		{name: "garbage", path: garbage, check: func(err error) bool {
			var d *boltsafe.DamageError
			return errors.As(err, &d) && errors.Is(err, berrors.ErrInvalid) && err.Error() == d.Cause.Error()
		}, expect: "a *DamageError wrapping bbolt's ErrInvalid"},
		{name: "locked", path: held, check: func(err error) bool {
			return errors.Is(err, boltsafe.ErrLocked) && errors.Is(err, berrors.ErrTimeout)
		}, expect: "ErrLocked"},
		{name: "missing directory", path: filepath.Join(dir, "missing", "x.db"), check: func(err error) bool {
			var d *boltsafe.DamageError
			return errors.Is(err, os.ErrNotExist) && !errors.As(err, &d) && !errors.Is(err, boltsafe.ErrLocked)
		}, expect: "the open error, as it is"},
		{name: "link", path: link, check: func(err error) bool {
			var d *boltsafe.DamageError
			return errors.Is(err, fsafe.ErrUnsafe) && !errors.As(err, &d) && !errors.Is(err, boltsafe.ErrLocked)
		}, expect: "fsafe's refusal, as it is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := boltsafe.Open(tt.path, bolt.Options{Timeout: 50 * time.Millisecond})
			if db != nil {
				defer db.Close()
			}
			if !tt.check(err) || (err == nil) != (db != nil) {
				t.Fatalf("Open = %v, %v; want %s", db, err, tt.expect)
			}
			if err != nil {
				return
			}
			st, err := os.Stat(tt.path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("new file: %v, %v; want mode 0600", st.Mode(), err)
			}
		})
	}
}

// TestOpen_panicClosesTheFile: a file whose freelist page is not one makes
// bbolt panic inside Open; Open answers a *DamageError and closes the file
// bbolt left open.
func TestOpen_panicClosesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "freelist.db")
	db, err := boltsafe.Open(path, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Each meta page (pages 0 and 1) names its freelist page at offset 48
	// (page header 16, magic, version, page size, flags 16, root bucket 16);
	// turn that page's type into a leaf page's.
	pageSize := int(binary.LittleEndian.Uint32(raw[24:28]))
	for _, meta := range []int{0, pageSize} {
		free := int(binary.LittleEndian.Uint64(raw[meta+48 : meta+56]))
		binary.LittleEndian.PutUint16(raw[free*pageSize+8:], 0x02)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	before := openFiles(t)
	db, err = boltsafe.Open(path, bolt.Options{Timeout: time.Second})
	var d *boltsafe.DamageError
	var p *boltsafe.PanicError
	if db != nil || !errors.As(err, &d) || !errors.As(err, &p) {
		t.Fatalf("Open = %v, %v; want a *DamageError around bbolt's panic", db, err)
	}
	if after := openFiles(t); after != before {
		t.Errorf("%d files open after Open, %d before: the file bbolt left open was not closed", after, before)
	}
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

func TestReadThrough_Consistent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sound.db")
	db := create(t, path, 500)
	size := fileSize(t, path)
	tests := []struct {
		name string
		size int64
		want string // "" for no error
	}{
		{name: "whole file", size: size},
		{name: "larger file", size: size + 4096},
		{name: "truncated", size: 4096, want: "truncated: 4096 bytes, "},
		{name: "just what the meta page claims", size: -1},
		{name: "a byte less than the meta page claims", size: -2, want: "truncated: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := boltsafe.Guard(func() error {
				return db.View(func(tx *bolt.Tx) error {
					size := tt.size
					switch size {
					case -1:
						size = tx.Size()
					case -2:
						size = tx.Size() - 1
					}
					if err := boltsafe.ReadThrough(tx, size); err != nil {
						return err
					}
					return boltsafe.Consistent(tx)
				})
			})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("ReadThrough and Consistent = %v, want %q", err, tt.want)
			}
		})
	}
}

// create makes a database at path with n records in a bucket and leaves
// it open until the test ends.
func create(t *testing.T, path string, n int) *bolt.DB {
	t.Helper()
	db, err := boltsafe.Open(path, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("records"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(fmt.Appendf(nil, "key-%05d", i), []byte(strings.Repeat("v", 200))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
