//go:build unix

package filedrop_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// childEnv marks the child process runUnprivileged starts.
const childEnv = "TOCSIN_FILEDROP_TEST_UNPRIVILEGED"

// nobody is the user and group the child runs as.
const nobody = 65534

// runUnprivileged lets a test that needs file permissions to apply run as
// root too (CI runs as root, and root ignores them). Not as root, it
// returns false and the test goes on. As root, it runs this test again in
// a child process of the test binary as user and group 65534 with no
// supplementary groups, fails t if the child fails or does not run the
// test, and returns true: the caller returns at once.
func runUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	if os.Getenv(childEnv) != "" {
		t.Fatalf("the child process still runs as root")
	}
	// The go tool's work directory is private to root: run a copy.
	dir, err := os.MkdirTemp("", "filedrop-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "filedrop.test")
	copyExecutable(t, bin)

	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(bin, "-test.run", strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=1", "TMPDIR="+os.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	t.Logf("ran as uid %d in a child process:\n%s", nobody, out)
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("the child process did not run %s", t.Name())
	}
	return true
}

// copyExecutable copies the running test binary to dst, executable by all.
func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
