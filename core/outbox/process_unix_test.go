//go:build unix

package outbox

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOutbox_AcknowledgedEntriesSurviveSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	acked := make(map[string]bool)
	// Three agents in turn on the same file, each killed at a random
	// point of its burst; each one starts on what the last one left.
	for round := 0; round < 3; round++ {
		cmd := helperCommand("enqueue", path, "r"+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 100 + rand.IntN(600)
		sc := bufio.NewScanner(out)
		n := 0
		killed := false
		for sc.Scan() {
			id, ok := strings.CutPrefix(sc.Text(), "ok ")
			if !ok {
				t.Fatalf("helper said %q", sc.Text())
			}
			acked[id] = true
			n++
			if n >= killAt && !killed {
				killed = true
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				// Lines already in the pipe were printed, so acknowledged,
				// before the kill: keep reading them.
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper ended with %v, want killed", err)
		}

		o, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		st, err := o.Stats()
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for id := range acked {
			if _, err := o.Get(id); err != nil {
				missing = append(missing, id)
			}
		}
		_, _, consistent := indexCounts(t, o)
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acknowledgements (%d read); %d acknowledged in all, %d stored",
			round, killAt, n, len(acked), st.Pending)
		if len(missing) > 0 {
			t.Fatalf("round %d: %d acknowledged entries lost, e.g. %v", round, len(missing), missing[:min(5, len(missing))])
		}
		if st.Pending < len(acked) || !consistent {
			t.Fatalf("round %d: %d stored, %d acknowledged, indexes consistent %v", round, st.Pending, len(acked), consistent)
		}
	}
}

func TestOpen_LockedByAnotherProcess(t *testing.T) {
	t.Parallel() // waits for a lock timeout
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := helperCommand("hold", path, "")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	start := time.Now()
	o, err := Open(path, Options{})
	if err == nil {
		_ = o.Close()
		t.Fatal("Open of a file another process holds succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Open took %v to give up", took)
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "outbox "+path+" is in use by another process") {
		t.Fatalf("error %v", err)
	}
	t.Logf("%v", err)
	pid := fmt.Sprintf("(pid %d)", cmd.Process.Pid)
	switch {
	case strings.Contains(err.Error(), pid):
	case runtime.GOOS == "linux" && procLocksWork():
		t.Errorf("error %q does not name the holder %s", err, pid)
	default:
		t.Logf("no pid on this system: %v", err)
	}

	// Once the holder is gone, the file opens.
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	o, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the holder exited: %v", err)
	}
	_ = o.Close()
}

// procLocksWork reports whether /proc/locks lists this process's locks.
func procLocksWork() bool {
	f, err := os.CreateTemp("", "lockprobe")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	// Read /proc/locks here, not through lockHolder: the test that asks
	// must not excuse a lockHolder that finds nothing.
	return listedInProcLocks(os.Getpid(), st.Sys().(*syscall.Stat_t).Ino)
}

// listedInProcLocks reports whether /proc/locks lists a lock of pid on
// the inode ino.
func listedInProcLocks(pid int, ino uint64) bool {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[4] == strconv.Itoa(pid) && strings.HasSuffix(f[5], ":"+strconv.FormatUint(ino, 10)) {
			return true
		}
	}
	return false
}
