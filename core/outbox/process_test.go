package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as a helper process: TestMain runs runHelper
// instead of the tests when helperEnv is set.
const (
	helperEnv     = "TOCSIN_OUTBOX_TEST_HELPER"
	helperPathEnv = "TOCSIN_OUTBOX_TEST_PATH"
	helperTagEnv  = "TOCSIN_OUTBOX_TEST_TAG"
)

// runHelper is the helper process's main:
//   - "enqueue": 4 goroutines enqueue entries (one to three per call) into
//     the outbox, and print "ok ID" for each once Enqueue has returned,
//     until the process is killed;
//   - "hold": open the outbox, print "ready", and hold it until stdin
//     closes.
func runHelper(mode string) int {
	path, tag := os.Getenv(helperPathEnv), os.Getenv(helperTagEnv)
	o, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer o.Close()
	switch mode {
	case "enqueue":
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100_000; {
					var batch []*Entry
					for j := 0; j <= i%3; j++ {
						batch = append(batch, newEntry(fmt.Sprintf("%s-g%d-%d@x", tag, g, i)))
						i++
					}
					if err := o.Enqueue(context.Background(), batch...); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(3)
					}
					var b strings.Builder
					for _, e := range batch {
						b.WriteString("ok " + e.ID + "\n")
					}
					mu.Lock()
					_, _ = os.Stdout.WriteString(b.String())
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	case "hold":
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		return 2
	}
	return 0
}

// helperCommand is the command that runs the helper in mode on path.
func helperCommand(mode, path, tag string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperPathEnv+"="+path, helperTagEnv+"="+tag)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestOpen_LockedInProcess(t *testing.T) {
	t.Parallel() // waits for a lock timeout
	_, path, _ := openTest(t)
	start := time.Now()
	o, err := Open(path, Options{})
	if err == nil {
		_ = o.Close()
		t.Fatal("second Open succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("second Open took %v", took)
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("error %v", err)
	}
}
