package outbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The locked error names the holder's pid: lockHolder reads it from
// /proc/locks for the file's device and inode, and gives 0 when the file
// is missing.
func TestLockHolder_NamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	if got := lockHolder(path); got != 0 {
		t.Fatalf("lockHolder of a missing file = %d, want 0", got)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := lockHolder(path); got != 0 {
		t.Fatalf("lockHolder of a file nobody locks = %d, want 0", got)
	}
	// No holder found: the error names none, rather than a pid 0.
	if err := lockedError(path); strings.Contains(err.Error(), "pid") || !strings.Contains(err.Error(), "in use by another process, ") {
		t.Errorf("lockedError without a known holder = %q", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if !listedInProcLocks(os.Getpid(), st.Sys().(*syscall.Stat_t).Ino) {
		t.Skip("/proc/locks does not list this process's locks here")
	}
	if got := lockHolder(path); got != os.Getpid() {
		t.Fatalf("lockHolder = %d, want this process (%d)", got, os.Getpid())
	}
	if err := lockedError(path); !strings.Contains(err.Error(), "(pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("lockedError = %q, want the holder's pid", err)
	}
}

// Lines that do not name a holder are passed over, whatever their shape:
// short or empty lines, a pid of 0 (a holder in another pid namespace, as
// /proc/locks shows it) or -1; a line of just the six fields read is
// enough.
func TestParseLocks_Edges(t *testing.T) {
	dev := func(major, minor uint64) uint64 {
		return (major&0xfff)<<8 | minor&0xff | (major&^0xfff)<<32 | (minor&^0xff)<<12
	}
	tests := []struct {
		name  string
		locks string
		want  int
	}{
		{"empty and one-field lines", "\n1:\n1: FLOCK ADVISORY WRITE 4242 00:2f:5678 0 EOF\n", 4242},
		{"short line", "1: FLOCK ADVISORY WRITE 99\n", 0},
		{"exactly six fields", "1: FLOCK ADVISORY WRITE 4242 00:2f:5678\n", 4242},
		{"pid 0 then the holder", "1: FLOCK ADVISORY WRITE 0 00:2f:5678 0 EOF\n2: FLOCK ADVISORY WRITE 4242 00:2f:5678 0 EOF\n", 4242},
		{"pid 0 on the inode elsewhere, then the holder there", "1: FLOCK ADVISORY WRITE 0 00:30:5678 0 EOF\n2: FLOCK ADVISORY WRITE 77 00:31:5678 0 EOF\n", 77},
		{"first of two on the inode elsewhere", "1: FLOCK ADVISORY WRITE 77 00:30:5678 0 EOF\n2: FLOCK ADVISORY WRITE 88 00:31:5678 0 EOF\n", 77},
		{"exact device wins over an earlier inode-only match", "1: FLOCK ADVISORY WRITE 77 00:30:5678 0 EOF\n2: FLOCK ADVISORY WRITE 4242 00:2f:5678 0 EOF\n", 4242},
		{"inode number as a suffix of another", "1: FLOCK ADVISORY WRITE 77 00:2f:15678 0 EOF\n", 0},
		{"waiter only", "1: -> FLOCK ADVISORY WRITE 777 00:2f:5678 0 EOF\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLocks(bufio.NewScanner(strings.NewReader(tt.locks)), dev(0, 0x2f), 5678); got != tt.want {
				t.Errorf("parseLocks = %d, want %d", got, tt.want)
			}
		})
	}
}
