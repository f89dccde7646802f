package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test files of core/rulestest serve the command's tests too.
const rulestestData = "../../core/rulestest/testdata/"

func TestRulesTest(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   []string
		wantStdout string // exact, when set
	}{
		{
			name:       "passing file",
			args:       []string{"rules", "test", rulestestData + "pass_test.hcl"},
			code:       exitOK,
			wantStdout: "PASS " + rulestestData + "pass_test.hcl: 6 tests\n",
		},
		{
			name: "failing file prints a diff per expect",
			args: []string{"rules", "test", rulestestData + "fail_test.hcl"},
			code: exitError,
			stdout: []string{
				"--- FAIL: wrong expectations (" + rulestestData + "fail_test.hcl:14:1)\n",
				rulestestData + "fail_test.hcl:22:3: at 5m: want fire [version_mismatch], got none\n",
				rulestestData + "fail_test.hcl:28:3: at 1d: want resolve [version_mismatch], got none\n",
				"FAIL " + rulestestData + "fail_test.hcl: 1 of 2 tests failed\n",
			},
		},
		{
			name:     "one failing file fails the run, the others still run",
			args:     []string{"rules", "test", rulestestData + "fail_test.hcl", rulestestData + "pass_test.hcl"},
			code:     exitError,
			stdout:   []string{"FAIL " + rulestestData + "fail_test.hcl", "PASS " + rulestestData + "pass_test.hcl"},
			noStdout: []string{"--- FAIL: passes"},
		},
		{
			name: "malformed file: diagnostics with file:line:col",
			args: []string{"rules", "test", rulestestData + "malformed_test.hcl"},
			code: exitError,
			stderr: []string{
				"Error: Invalid start\n\n  on " + rulestestData + "malformed_test.hcl:4:11:\n     4:   start = \"yesterday\"\n",
				"Error: Unknown rule\n\n  on " + rulestestData + "malformed_test.hcl:17:13:",
				`Did you mean "version_mismatch"?`,
			},
			stdout: []string{"FAIL " + rulestestData + "malformed_test.hcl: not run: 6 errors\n"},
		},
		{
			name:   "missing file",
			args:   []string{"rules", "test", "nope_test.hcl"},
			code:   exitError,
			stderr: []string{"nope_test.hcl"},
			stdout: []string{"FAIL nope_test.hcl: not run"},
		},
		{
			name:   "-run selects tests, flags after the files",
			args:   []string{"rules", "test", rulestestData + "fail_test.hcl", "-run", "^passes$", "-v"},
			code:   exitOK,
			stdout: []string{"=== RUN   passes\n--- PASS: passes\n", "PASS " + rulestestData + "fail_test.hcl: 1 test\n"},
		},
		{
			name:   "-v prints the events",
			args:   []string{"rules", "test", "-v", rulestestData + "pass_test.hcl"},
			code:   exitOK,
			stdout: []string{`    15m      fire          version_mismatch: "Version mismatch: 7.1 here, 7.2 on the partner"`},
		},
		{
			name:   "no file",
			args:   []string{"rules", "test"},
			code:   exitUsage,
			stderr: []string{"give at least one test file", "Usage: tocsin rules test"},
		},
		{
			name:   "bad -run",
			args:   []string{"rules", "test", "-run", "(", rulestestData + "pass_test.hcl"},
			code:   exitUsage,
			stderr: []string{"-run: error parsing regexp"},
		},
		{
			name:   "unknown flag",
			args:   []string{"rules", "test", "-x", rulestestData + "pass_test.hcl"},
			code:   exitUsage,
			stderr: []string{"flag provided but not defined: -x"},
		},
		{
			name:   "help",
			args:   []string{"rules", "test", "-h"},
			code:   exitOK,
			stderr: []string{"Usage: tocsin rules test", "expect \"15m\""},
		},
		{
			name:   "bare rules lists its subcommands",
			args:   []string{"rules"},
			code:   exitUsage,
			stderr: []string{"Usage: tocsin rules <subcommand>", "    test    Run rule unit tests"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.wantStdout != "" && r.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.wantStdout)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.noStdout {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

func TestRulesTest_Directory(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(rulestestData + "pass_test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs(rulestestData + "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), `config = ["config.hcl"]`, `config = ["`+cfg+`"]`, 1)
	for _, name := range []string{"a_test.hcl", "b_test.hcl", "not-a-test.hcl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "rules", "test", dir)
	if r.code != exitOK {
		t.Fatalf("exit code = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := strings.Count(r.stdout, "PASS "); got != 2 || strings.Contains(r.stdout, "not-a-test") {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	empty := t.TempDir()
	r = runCLI(t, "rules", "test", empty)
	if r.code != exitUsage || !strings.Contains(r.stderr, "holds no *_test.hcl file") {
		t.Errorf("empty directory: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRunDev_heartbeatSaysHowOften: dev mode's heartbeat comes every
// minute, and its text says so (not "every day", as for a real agent).
// The rule is tested with dev mode's own configuration.
func TestRunDev_heartbeatSaysHowOften(t *testing.T) {
	dir := t.TempDir()
	cfg := devConfigText("127.0.0.1:1", 2525, "https://127.0.0.1:2", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	test := `config = ["agent.hcl"]
rules  = ["daily_heartbeat"]

test "dev heartbeat" {
  start = "2026-11-23T07:00:00Z"
  stop  = "1m20s"
  facts "0m" {
    peer "partner" {
      role    = "primary"
      version = "1.0"
    }
  }
  expect "10s" {
    fire = ["daily_heartbeat"]
    text = { daily_heartbeat = "This notice comes every minute; if it stops coming" }
  }
  expect "1m10s" {
    repeat = ["daily_heartbeat"]
  }
  expect "1m20s" {
    resolve = ["daily_heartbeat"]
  }
}
`
	path := filepath.Join(dir, "heartbeat_test.hcl")
	if err := os.WriteFile(path, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "rules", "test", path)
	if r.code != exitOK {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
