package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// pipeGrace is how long the host keeps reading a plugin's stdout and
// stderr after the plugin exited and its process group was killed. Only a
// process that left the group (setsid) can still hold them open; after
// this the host closes its ends, so stopping never waits on such a
// process.
const pipeGrace = 2 * time.Second

// procRunner is the go-plugin runner for a plugin process. It differs
// from go-plugin's own in three ways:
//
//   - it executes the file the host opened and verified, through its
//     descriptor, not a path that may have changed since (see [pinned]);
//   - the plugin leads its own process group, and the whole group is
//     killed when the plugin is stopped or exits, so no child of a
//     plugin outlives it;
//   - it owns the plugin's stdout and stderr pipes and closes them when
//     they have nothing more to say, so go-plugin never waits forever on a
//     grandchild that inherited them.
type procRunner struct {
	logger hclog.Logger
	cmd    *exec.Cmd
	exe    *pinned
	name   string // the plugin's path, for logs and messages

	stdout, stderr *os.File // the host's read ends
	closePipes     sync.Once

	pid    int
	reaped chan struct{} // closed once the plugin's exit is collected
	err    error         // the exit, valid after reaped

	mu   sync.Mutex
	gone bool // exited and about to be collected: the group is not signalled again
}

var _ runner.Runner = (*procRunner)(nil)

// newRunner returns a runner function for go-plugin's ClientConfig that
// executes exe and reports the runner it made to got.
func newRunner(exe *pinned, got func(*procRunner)) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(logger hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
		r := &procRunner{logger: logger, cmd: cmd, exe: exe, name: exe.path, reaped: make(chan struct{})}
		got(r)
		return r, nil
	}
}

// Start starts the plugin process.
func (r *procRunner) Start(context.Context) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("plugin stdout: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("plugin stderr: %w", err)
	}
	r.stdout, r.stderr = outR, errR
	r.cmd.Stdout, r.cmd.Stderr = outW, errW
	r.exe.prepare(r.cmd)
	isolate(r.cmd)
	err = r.cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		r.closeReaders()
		return fmt.Errorf("run %s: %w", r.name, err)
	}
	r.pid = r.cmd.Process.Pid
	go r.reap()
	if err := r.exe.unchanged(); err != nil {
		_ = r.Kill(context.Background())
		return err
	}
	r.logger.Debug("plugin process started", "path", r.name, "pid", r.pid)
	return nil
}

// reap waits for the plugin to exit, kills what is left of its process
// group while the plugin's pid still names the group (it is not yet
// collected), collects the exit, and closes the pipes after pipeGrace in
// case a process outside the group holds them.
func (r *procRunner) reap() {
	if err := waitExited(r.pid); err != nil {
		r.logger.Debug("waiting for the plugin's exit", "error", err)
	}
	r.mu.Lock()
	killGroup(r.pid)
	r.gone = true
	r.mu.Unlock()
	r.err = r.cmd.Wait()
	close(r.reaped)
	time.AfterFunc(pipeGrace, r.closeReaders)
}

func (r *procRunner) closeReaders() {
	r.closePipes.Do(func() {
		if r.stdout != nil {
			r.stdout.Close()
		}
		if r.stderr != nil {
			r.stderr.Close()
		}
	})
}

// Wait returns the plugin's exit once it is collected.
func (r *procRunner) Wait(ctx context.Context) error {
	select {
	case <-r.reaped:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.closeReaders()
	return r.err
}

// Kill sends SIGKILL to the plugin's whole process group.
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	if r.pid != 0 && !r.gone {
		killGroup(r.pid)
	}
	r.mu.Unlock()
	if r.cmd.Process != nil {
		// The leader, where groups are not used; os.Process knows
		// when it was collected, so this never signals another process.
		_ = r.cmd.Process.Kill()
	}
	return nil
}

// forceStop kills the group and closes the pipes at once, so that
// go-plugin's Kill, which waits for both, returns.
func (r *procRunner) forceStop() {
	_ = r.Kill(context.Background())
	r.closeReaders()
}

// Stdout is the plugin's stdout, which carries go-plugin's handshake.
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }

// Stderr is the plugin's stderr, relayed to the agent's log.
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }

// Name is the plugin's path.
func (r *procRunner) Name() string { return r.name }

// ID is the plugin's pid.
func (r *procRunner) ID() string { return strconv.Itoa(r.pid) }

// Diagnose explains a plugin that did not answer go-plugin's handshake.
func (r *procRunner) Diagnose(context.Context) string {
	return fmt.Sprintf("%s is not a Tocsin plugin that runs here: it may be built for another architecture, miss a library, or print to stdout before it serves", r.name)
}

// PluginToHost returns the address as it is: the plugin runs beside the host.
func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin returns the address as it is: the plugin runs beside the host.
func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// errChanged means the plugin file changed between its check and its
// execution.
var errChanged = errors.New("changed while it was being started")
