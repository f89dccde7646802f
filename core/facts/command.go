package facts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// commandWaitDelay is how long a command's output pipes may stay open
// after it exited or was killed (held by a process it started in the
// background) before they are closed.
const commandWaitDelay = 100 * time.Millisecond

// maxErrorTail bounds the part of stderr quoted in a failed command's
// error.
const maxErrorTail = 200

// checkCommand runs the command without a shell (or with /bin/sh -c when
// a shell script is given) in a process group of its own, which is killed
// whole at the timeout and when the command ends, so that nothing it
// started outlives the check. Values: exit_status (null when the command
// did not exit by itself), stdout and stderr (cut at max_output), json
// (stdout parsed when JSON is asked; else null). It succeeds on exit
// status 0 and, when JSON is asked, stdout that parses.
func checkCommand(ctx context.Context, s Spec, _ *env, v map[string]cty.Value) error {
	c := s.Command
	argv := c.Argv
	if c.Shell != "" {
		argv = []string{"/bin/sh", "-c", c.Shell}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Dir = c.Dir
	stdout := &capBuffer{max: c.MaxOutput}
	stderr := &capBuffer{max: c.MaxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = commandWaitDelay
	isolate(cmd)

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	waitErr := cmd.Wait()
	// The command is done; what it left running in its group is not.
	_ = killGroup(cmd.Process.Pid)

	out, outCut := stdout.Bytes()
	errOut, _ := stderr.Bytes()
	v["stdout"] = stringVal(string(out))
	v["stderr"] = stringVal(string(errOut))
	st := cmd.ProcessState
	switch {
	case st == nil:
		return fmt.Errorf("run %s: %w", argv[0], waitErr)
	case !st.Exited():
		// Killed by a signal: the timeout, or something else.
		return fmt.Errorf("%s: %s", argv[0], st)
	}
	v["exit_status"] = cty.NumberIntVal(int64(st.ExitCode()))
	if code := st.ExitCode(); code != 0 {
		if tail := errorTail(errOut); tail != "" {
			return fmt.Errorf("exit status %d: %s", code, tail)
		}
		return fmt.Errorf("exit status %d", code)
	}
	// Exit status 0; a WaitDelay overrun (pipes held open by a
	// background process) is no failure of the command.
	if !c.JSON {
		return nil
	}
	if outCut {
		return fmt.Errorf("parse stdout as json: %w (command.max_output is %d)", errTruncated, c.MaxOutput)
	}
	jv, err := jsonValue(out)
	if err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	v["json"] = jv
	return nil
}

// errorTail returns the last non-empty line of a command's stderr, cut to
// maxErrorTail bytes, for its error.
func errorTail(stderr []byte) string {
	lines := bytes.Split(bytes.TrimSpace(stderr), []byte("\n"))
	last := strings.TrimSpace(string(lines[len(lines)-1]))
	if len(last) > maxErrorTail {
		last = strings.ToValidUTF8(last[:maxErrorTail], "") + "…"
	}
	return last
}
