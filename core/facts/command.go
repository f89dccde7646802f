package facts

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// KindCommand is the kind that runs a local command.
const KindCommand Kind = "command"

// CommandSpec is a check that runs a local command. Exactly one of Argv and
// Shell is set.
type CommandSpec struct {
	// Argv is the program and its arguments, run without a shell. A
	// program without a slash is looked up in $PATH.
	Argv []string
	// Shell is a script run with /bin/sh -c.
	Shell string
	// JSON asks for stdout to be parsed as JSON; the check fails when it
	// does not parse.
	JSON bool
	// Env holds "KEY=value" entries added to the agent's environment.
	Env []string
	// Dir is the working directory; default the agent's.
	Dir string
	// MaxOutput caps how much of stdout and of stderr is kept; default
	// DefaultCommandMaxOutput.
	MaxOutput int64
}

// DefaultCommandMaxOutput is CommandSpec.MaxOutput when it is left zero.
const DefaultCommandMaxOutput = 64 << 10

func init() {
	register(70, &kindDef{
		name: KindCommand,
		args: []Arg{
			{Name: "command", Main: true, Type: cty.List(cty.String), Field: "command.argv", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				var argv []string
				for _, e := range v.AsValueSlice() {
					if e.IsNull() {
						return &ArgError{Summary: "Invalid command", Detail: "A command's elements must not be null."}
					}
					argv = append(argv, e.AsString())
				}
				if len(argv) == 0 {
					return &ArgError{Summary: "Invalid command", Detail: "A command needs at least the program, as in [\"/usr/bin/check\", \"--quiet\"]. To run a shell line, use shell = \"...\" instead."}
				}
				s.Command = &CommandSpec{Argv: argv}
				return nil
			}},
			// shell is the command kind run through /bin/sh -c.
			{Name: "shell", Main: true, Type: cty.String, Field: "command.shell", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				s.Command = &CommandSpec{Shell: v.AsString()}
				return nil
			}},
			{Name: "json", Type: cty.Bool, Set: setBool(func(s *Spec) *bool { return &s.Command.JSON })},
			{Name: "env", Type: cty.Map(cty.String), Field: "command.env", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				m := v.AsValueMap()
				for _, k := range slices.Sorted(maps.Keys(m)) {
					s.Command.Env = append(s.Command.Env, k+"="+m[k].AsString())
				}
				return nil
			}},
			{Name: "dir", Type: cty.String, Set: setPath(func(s *Spec) *string { return &s.Command.Dir })},
			maxBytesArg("command.max_output", func(s *Spec) *int64 { return &s.Command.MaxOutput }),
		},
		values: map[string]cty.Type{
			"exit_status": cty.Number,
			"stdout":      cty.String,
			"stderr":      cty.String,
			"json":        cty.DynamicPseudoType,
		},
		has: func(s Spec) bool { return s.Command != nil },
		defaults: func(s Spec) Spec {
			c := *s.Command
			c.Argv = slices.Clone(c.Argv)
			c.Env = slices.Clone(c.Env)
			if c.MaxOutput == 0 {
				c.MaxOutput = DefaultCommandMaxOutput
			}
			s.Command = &c
			return s
		},
		valid: func(s Spec, add addFunc) {
			c := s.Command
			switch {
			case len(c.Argv) > 0 && c.Shell != "":
				add("command", "set argv or shell, not both")
			case len(c.Argv) == 0 && c.Shell == "":
				add("command", "set argv (run without a shell) or shell (run with /bin/sh -c)")
			case len(c.Argv) > 0 && c.Argv[0] == "":
				add("command.argv", "the program (first element) must not be empty")
			}
			for _, e := range c.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					add("command.env", "%q is not KEY=value", e)
				}
			}
			if c.MaxOutput < 0 {
				add("command.max_output", "must be positive, not %d", c.MaxOutput)
			}
		},
		run: checkCommand,
	})
}

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
