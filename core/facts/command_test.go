//go:build unix

package facts

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		cmd     CommandSpec
		ok      bool
		errPart string
		exit    string // "" for null
		stdout  string
		check   func(t *testing.T, f Fact)
	}{
		{name: "argv", cmd: CommandSpec{Argv: []string{"echo", "hello"}}, ok: true, exit: "0", stdout: "hello\n"},
		{name: "no shell without shell", cmd: CommandSpec{Argv: []string{"echo", "$HOME", ";", "exit", "3", "|", "x"}}, ok: true, exit: "0", stdout: "$HOME ; exit 3 | x\n"},
		{
			name: "exit 3", cmd: CommandSpec{Shell: "echo partial; echo first >&2; echo 'the reason' >&2; exit 3"},
			errPart: "exit status 3: the reason", exit: "3", stdout: "partial\n",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "stderr") != "first\nthe reason\n" {
					t.Errorf("stderr = %q", str(t, f, "stderr"))
				}
			},
		},
		{name: "exit 1 quietly", cmd: CommandSpec{Argv: []string{"false"}}, errPart: "exit status 1", exit: "1"},
		{
			name: "json", cmd: CommandSpec{Shell: `printf '{"role":"primary","ips":["10.0.0.1"]}'`, JSON: true}, ok: true, exit: "0",
			check: func(t *testing.T, f Fact) {
				j := value(t, f, "json")
				if attr(t, j, "role").AsString() != "primary" || attr(t, j, "ips").LengthInt() != 1 {
					t.Errorf("json = %#v", j)
				}
			},
		},
		{name: "bad json", cmd: CommandSpec{Shell: "echo not json", JSON: true}, errPart: "stdout: parse json:", exit: "0", stdout: "not json\n"},
		{name: "json cut", cmd: CommandSpec{Shell: `echo '{"a": 1}'`, JSON: true, MaxOutput: 3}, errPart: "cut at its size cap (command.max_output is 3)", exit: "0", stdout: `{"a`},
		{
			name: "json not asked", cmd: CommandSpec{Shell: `echo '{}'`}, ok: true, exit: "0",
			check: func(t *testing.T, f Fact) {
				if !isNull(t, f, "json") {
					t.Errorf("json = %#v", value(t, f, "json"))
				}
			},
		},
		{name: "program not found", cmd: CommandSpec{Argv: []string{"tocsin-no-such-program"}}, errPart: `start tocsin-no-such-program: exec: "tocsin-no-such-program": executable file not found`},
		{name: "path not found", cmd: CommandSpec{Argv: []string{"/nonexistent/prog"}}, errPart: "no such file or directory"},
		{name: "env and dir", cmd: CommandSpec{Shell: `echo "$TOCSIN_TEST_VAR"; pwd`, Env: []string{"TOCSIN_TEST_VAR=from env"}, Dir: dir}, ok: true, exit: "0", stdout: "from env\n" + dir + "\n"},
		{name: "missing dir", cmd: CommandSpec{Argv: []string{"true"}, Dir: filepath.Join(dir, "nope")}, errPart: "start true:"},
		{
			name: "output cut, the command not blocked", cmd: CommandSpec{Shell: "head -c 3000000 /dev/zero | tr '\\0' x; echo done >&2", MaxOutput: 5},
			ok: true, exit: "0", stdout: "xxxxx",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "stderr") != "done\n" {
					t.Errorf("stderr = %q", str(t, f, "stderr"))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.cmd
			var f Fact
			within(t, 5*time.Second, func() {
				f = runCheck(t, Spec{Name: "probe", Timeout: 5 * time.Second, Command: &c})
			})
			wantOK(t, f, tt.ok, tt.errPart)
			if tt.exit == "" {
				if !isNull(t, f, "exit_status") {
					t.Errorf("exit_status = %#v, want null", value(t, f, "exit_status"))
				}
			} else if got := strconv.FormatFloat(num(t, f, "exit_status"), 'f', -1, 64); got != tt.exit {
				t.Errorf("exit_status = %s, want %s", got, tt.exit)
			}
			if tt.stdout != "" && str(t, f, "stdout") != tt.stdout {
				t.Errorf("stdout = %q, want %q", str(t, f, "stdout"), tt.stdout)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// TestCheckCommand_ProcessGroup checks that nothing a command starts
// outlives the check: not at the timeout, and not after the command exits.
func TestCheckCommand_ProcessGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		shell   string
		timeout time.Duration
		ok      bool
		errPart string
		limit   time.Duration
	}{
		{name: "sleep cut by the timeout", shell: "echo $$; sleep 30", timeout: 200 * time.Millisecond,
			errPart: "timed out after 200ms: /bin/sh: signal: killed", limit: 1500 * time.Millisecond},
		{name: "background and foreground children", shell: "echo $$; sleep 100 & sleep 100", timeout: 200 * time.Millisecond,
			errPart: "timed out after 200ms", limit: 1500 * time.Millisecond},
		{name: "a child that ignores SIGTERM", shell: "echo $$; trap '' TERM; sleep 100", timeout: 200 * time.Millisecond,
			errPart: "timed out after 200ms", limit: 1500 * time.Millisecond},
		{name: "a child left behind after exit", shell: "echo $$; sleep 100 & exit 0", timeout: 5 * time.Second,
			ok: true, limit: 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Fact
			within(t, tt.limit, func() {
				f = runCheck(t, Spec{Name: "slow", Timeout: tt.timeout, Command: &CommandSpec{Shell: tt.shell}})
			})
			wantOK(t, f, tt.ok, tt.errPart)
			pgid, err := strconv.Atoi(strings.TrimSpace(str(t, f, "stdout")))
			if err != nil || pgid <= 1 {
				t.Fatalf("stdout %q does not hold the shell's pid", str(t, f, "stdout"))
			}
			groupGone(t, pgid)
			if !tt.ok && !isNull(t, f, "exit_status") {
				t.Errorf("exit_status = %#v for a killed command", value(t, f, "exit_status"))
			}
		})
	}
}

// groupGone waits up to two seconds for the process group pgid to be gone:
// no member left, or only zombies waiting for a parent to reap them.
func groupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if runtime.GOOS == "linux" && onlyZombies(pgid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive (kill -0: %v)", pgid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyZombies reports whether every process of group pgid is a zombie.
func onlyZombies(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		if fields[0] != "Z" {
			return false
		}
	}
	return true
}

// TestRunner_StopKillsCommand stops a runner while a command runs: the
// command's whole process group goes with it.
func TestRunner_StopKillsCommand(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, err := NewRunner(nil, []Spec{{
		Name:    "long",
		Command: &CommandSpec{Shell: `echo $$ > "$PIDFILE"; sleep 100 & sleep 100`, Env: []string{"PIDFILE=" + pidFile}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	var pgid int
	deadline := time.Now().Add(3 * time.Second)
	for pgid == 0 {
		b, _ := os.ReadFile(pidFile)
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 1 {
			pgid = n
			break
		}
		if time.Now().After(deadline) {
			r.Stop()
			t.Fatal("the command did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	within(t, 2*time.Second, r.Stop)
	groupGone(t, pgid)
	if err := r.Ready(t.Context()); !errors.Is(err, ErrStopped) {
		t.Errorf("Ready = %v, want ErrStopped", err)
	}
}
