package filedrop

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestClassify checks the kind and remedy of each file system failure;
// most cannot be caused on purpose in a test (a full disk), so the errors
// are built as the os package returns them.
func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
		code      string
		remedy    string
	}{
		{name: "permission denied", err: syscall.EACCES, permanent: true, code: "EACCES", remedy: "write and search permission"},
		{name: "operation not permitted", err: syscall.EPERM, permanent: true, code: "EACCES", remedy: "permission"},
		{name: "disk full", err: syscall.ENOSPC, code: "ENOSPC", remedy: "is full"},
		{name: "quota", err: syscall.EDQUOT, code: "EDQUOT", remedy: "quota"},
		{name: "read-only", err: syscall.EROFS, permanent: true, code: "EROFS", remedy: "read-only"},
		{name: "missing", err: syscall.ENOENT, code: "ENOENT", remedy: "create_directory"},
		{name: "other", err: syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("write message x: %w", &fs.PathError{Op: "open", Path: "/spool/.tocsin-1.tmp", Err: tt.err})
			de := classify("/spool", err)
			if got := de.Temporary(); got == tt.permanent {
				t.Errorf("Temporary() = %v, want %v", got, !tt.permanent)
			}
			if de.Code != tt.code {
				t.Errorf("Code = %q, want %q", de.Code, tt.code)
			}
			if !strings.Contains(de.Remedy, tt.remedy) {
				t.Errorf("Remedy = %q, want it to mention %q", de.Remedy, tt.remedy)
			}
			if tt.remedy != "" && !strings.Contains(de.Remedy, "/spool") {
				t.Errorf("Remedy = %q does not name the directory", de.Remedy)
			}
			if !errors.Is(de, tt.err) {
				t.Error("the cause is lost")
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"20260301.abc+tag=1@host.example", "20260301.abc+tag=1@host.example"},
		{"../../etc/passwd", ".._.._etc_passwd"},
		{`a\b:c*d?"e<f>|g h`, "a_b_c_d__e_f__g_h"},
		{"ünïcode", "__n__code"},
		{"", "message"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxIDLen)},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDirMode(t *testing.T) {
	tests := []struct{ file, dir fs.FileMode }{
		{0o640, 0o750},
		{0o644, 0o755},
		{0o660, 0o770},
		{0o600, 0o700},
		{0o200, 0o700},
	}
	for _, tt := range tests {
		if got := dirMode(tt.file); got != tt.dir {
			t.Errorf("dirMode(%#o) = %#o, want %#o", tt.file, got, tt.dir)
		}
	}
}
