package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tocsin-dev/tocsin/core/rulestest"
)

// rulesCommand is the parent of the rules subcommands; it only explains
// them.
type rulesCommand struct{ meta }

func (c *rulesCommand) Synopsis() string { return "Work with rules: rules test runs rule unit tests" }

func (c *rulesCommand) Help() string {
	return `Usage: tocsin rules <subcommand> [options] [args]

  Tools for rules. Run tocsin rules <subcommand> -h for a subcommand's help.`
}

func (c *rulesCommand) Run(args []string) int {
	fmt.Fprintf(c.stderr, "%s\n\nSubcommands:\n    test    %s\n", c.Help(), (&rulesTestCommand{}).Synopsis())
	return exitUsage
}

// rulesTestCommand is `tocsin rules test`.
type rulesTestCommand struct{ meta }

func (c *rulesTestCommand) Synopsis() string {
	return "Run rule unit tests: a timeline of facts and the notifications expected"
}

func (c *rulesTestCommand) Help() string {
	return `Usage: tocsin rules test [-v] [-run REGEXP] FILE|DIR...

  Runs the unit tests of rules, like promtool test rules. A test file gives
  the configuration whose rules it tests, a timeline of facts, and the
  events expected along it; the rules are evaluated at the ticks of their
  schedules with a clock that follows the timeline. Nothing is sent and no
  check or plugin runs. A directory runs its *_test.hcl files.

    config = ["failover.hcl"]            # relative to this file
    rules  = ["version_mismatch"]        # optional; default all rules

    test "version mismatch fires, repeats and resolves" {
      start = "2026-11-23T08:00:00Z"     # optional
      stop  = "2d"                       # optional: the agent stops here
      facts "0m" {                       # from this offset on
        node = { version = "7.1" }
        peer "partner" {
          version = "7.2"                # ok = true unless error is set
        }
      }
      facts "30m" {
        peer "partner" {
          version = "7.1"
        }
      }
      expect "15m" {                     # events in (previous expect, 15m]
        fire    = ["version_mismatch"]   # also repeat, resolve, error
        subject = { version_mismatch = "7.2" }
      }
      expect "45m" { resolve = ["version_mismatch"] }
    }

  Every rule is evaluated on its schedule (in UTC), as the agent does, and
  once more at stop (agent.stopping is true). An expect block must list
  exactly the events of its window. rules/README.md describes the format
  in full.

  Prints "PASS FILE: N tests" per file that passes, and each failure as
  FILE:LINE:COL: at OFFSET: want fire [rule], got none. Exits 0 when every
  test passes, 1 when one fails or a file has errors, 2 on a wrong command
  line.

Options:

  -run REGEXP   Run only the tests whose name matches REGEXP.
  -v            Print every event of every test.`
}

func (c *rulesTestCommand) Run(args []string) int {
	fs := c.flags("rules test", c.Help())
	runPattern := fs.String("run", "", "")
	verbose := fs.Bool("v", false, "")
	// Flags may come before or after the files.
	paths, exit, ok := c.parseArgs(fs, args)
	if !ok {
		return exit
	}
	if len(paths) == 0 {
		return c.usageError(fs, "give at least one test file")
	}
	var opts rulestest.Options
	if *runPattern != "" {
		re, err := regexp.Compile(*runPattern)
		if err != nil {
			return c.usageError(fs, "-run: %v", err)
		}
		opts.Run = re
	}
	files, err := testFiles(paths)
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	code := exitOK
	for _, f := range files {
		res := rulestest.RunFile(f, opts)
		_ = res.WriteDiagnostics(c.stderr)
		_ = res.WriteReport(c.stdout, *verbose)
		if !res.Passed() {
			code = exitError
		}
	}
	return code
}

// testFiles expands the directories among paths into their *_test.hcl
// files, sorted. A directory without any is an error; files are taken as
// they are, so that a missing one is reported by the run with its name.
func testFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*_test.hcl"))
		if err != nil {
			return nil, err
		}
		var found []string
		for _, m := range matches {
			if !strings.HasPrefix(filepath.Base(m), ".") {
				found = append(found, m)
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no *_test.hcl file", p)
		}
		out = append(out, found...)
	}
	return out, nil
}
