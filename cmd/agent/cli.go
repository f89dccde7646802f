package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/config"
)

// meta is what every command shares: where to write, and helpers.
type meta struct {
	stdout io.Writer
	stderr io.Writer
	// sawFlags, when set, is given a command's flag set as -h prints its
	// help: commandSpecs reads the flags from there.
	sawFlags func(*flag.FlagSet)
}

type app struct {
	meta
	args []string
}

func newCLI(args []string, stdout, stderr io.Writer) *app {
	return &app{meta: meta{stdout: stdout, stderr: stderr}, args: args}
}

// commands is the one place that lists the commands.
func (a *app) commands() map[string]cli.CommandFactory {
	m := a.meta
	return map[string]cli.CommandFactory{
		"run":            func() (cli.Command, error) { return &runCommand{meta: m}, nil },
		"validate":       func() (cli.Command, error) { return &validateCommand{meta: m}, nil },
		"test-send":      func() (cli.Command, error) { return &testSendCommand{meta: m}, nil },
		"plugins":        func() (cli.Command, error) { return &pluginsCommand{meta: m}, nil },
		"plugin":         func() (cli.Command, error) { return &pluginCommand{meta: m}, nil },
		"plugin check":   func() (cli.Command, error) { return &pluginCheckCommand{meta: m}, nil },
		"version":        func() (cli.Command, error) { return &versionCommand{meta: m}, nil },
		"rules":          func() (cli.Command, error) { return &rulesCommand{meta: m}, nil },
		"rules test":     func() (cli.Command, error) { return &rulesTestCommand{meta: m}, nil },
		"identity":       func() (cli.Command, error) { return &identityCommand{meta: m}, nil },
		"oauth":          func() (cli.Command, error) { return &oauthCommand{meta: m}, nil },
		"oauth login":    func() (cli.Command, error) { return &oauthLoginCommand{meta: m}, nil },
		"oauth status":   func() (cli.Command, error) { return &oauthStatusCommand{meta: m}, nil },
		"outbox":         func() (cli.Command, error) { return &outboxCommand{meta: m}, nil },
		"outbox list":    func() (cli.Command, error) { return &outboxListCommand{meta: m}, nil },
		"outbox show":    func() (cli.Command, error) { return &outboxShowCommand{meta: m}, nil },
		"outbox retry":   func() (cli.Command, error) { return &outboxRetryCommand{meta: m}, nil },
		"outbox drop":    func() (cli.Command, error) { return &outboxDropCommand{meta: m}, nil },
		"outbox recover": func() (cli.Command, error) { return &outboxRecoverCommand{meta: m}, nil },
		"silence":        func() (cli.Command, error) { return &silenceCommand{meta: m}, nil },
		"silence add":    func() (cli.Command, error) { return &silenceAddCommand{meta: m}, nil },
		"silence list":   func() (cli.Command, error) { return &silenceListCommand{meta: m}, nil },
		"silence expire": func() (cli.Command, error) { return &silenceExpireCommand{meta: m}, nil },
		"state":          func() (cli.Command, error) { return &stateCommand{meta: m}, nil },
		"state recover":  func() (cli.Command, error) { return &stateRecoverCommand{meta: m}, nil },
		"fmt":            func() (cli.Command, error) { return &fmtCommand{meta: m}, nil },
		"completion":     func() (cli.Command, error) { return &completionCommand{meta: m}, nil },
		"man":            func() (cli.Command, error) { return &manCommand{meta: m}, nil },
		"__complete":     func() (cli.Command, error) { return &completeCommand{meta: m}, nil },
	}
}

// hiddenCommands are in the table but not in the help, the man page or
// the completion: the shell scripts' callbacks.
var hiddenCommands = []string{"__complete"}

func (a *app) run() int {
	c := cli.NewCLI("tocsin", buildinfo.Version)
	c.Args = a.args
	c.Commands = a.commands()
	c.HelpWriter = a.stderr
	c.ErrorWriter = a.stderr
	c.HelpFunc = helpFunc
	c.HiddenCommands = hiddenCommands
	// hashicorp/cli answers an unknown command with the usage alone; say
	// what was wrong first.
	if sub := c.Subcommand(); sub != "" {
		if _, ok := c.Commands[sub]; !ok {
			fmt.Fprintf(a.stderr, "Error: unknown command %q\n\n", sub)
		}
	} else if !c.IsHelp() && !c.IsVersion() {
		for _, arg := range a.args {
			if strings.HasPrefix(arg, "-") {
				fmt.Fprintf(a.stderr, "Error: unknown option %q\n\n", arg)
				break
			}
		}
	}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(a.stderr, "Error: %v\n", err)
		return exitError
	}
	switch code {
	case exitOK, exitError, exitUsage, exitUnformatted:
		return code
	case cli.RunResultHelp:
		return exitUsage
	default:
		// hashicorp/cli answers 127 for an unknown command, 1 for bare help.
		if len(a.args) == 0 || c.IsHelp() {
			return exitOK
		}
		return exitUsage
	}
}

// about is what tocsin is, in the help and the man page.
const about = "Tocsin watches a node and its failover partner and sends mail when something is wrong."

func helpFunc(commands map[string]cli.CommandFactory) string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage: tocsin <command> [options]\n\n")
	b.WriteString(about + "\n\nCommands:\n")
	for _, n := range names {
		cmd, err := commands[n]()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "    %-10s %s\n", n, cmd.Synopsis())
	}
	b.WriteString("\nRun `tocsin <command> -h` for a command's options. Start with `tocsin run -dev`.\n")
	return b.String()
}

// flags returns a flag set that prints help to stderr and does not exit.
func (m meta) flags(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		if m.sawFlags != nil {
			m.sawFlags(fs)
		}
		fmt.Fprintln(m.stderr, strings.TrimSpace(help))
	}
	return fs
}

// parse parses args, printing the error and the help on failure. ok is
// false when the command must return code.
func (m meta) parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := parseQuiet(fs, args); err != nil {
		if err == flag.ErrHelp {
			fs.Usage()
			return exitOK, false
		}
		fmt.Fprintf(m.stderr, "Error: %v\n\n", err)
		fs.Usage()
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "Error: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// parseQuiet is fs.Parse without the usage the flag package prints on an
// error (before the error): the callers print the error, then the usage,
// once.
func parseQuiet(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	return fs.Parse(args)
}

// parseArgs parses args, which hold positional arguments with the flags
// before or after them, and returns the positional ones. ok is false when
// the command must return code.
func (m meta) parseArgs(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool) {
	for {
		if err := parseQuiet(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, exitOK, false
			}
			fmt.Fprintf(m.stderr, "Error: %v\n\n", err)
			fs.Usage()
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			return rest, 0, true
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// usageError prints msg and the help and returns exitUsage.
func (m meta) usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(m.stderr, "Error: "+format+"\n\n", args...)
	fs.Usage()
	return exitUsage
}

// load loads the config at path and prints its diagnostics. ok is false
// when there were errors.
func (m meta) load(path string) (*config.Config, bool) {
	cfg, diags := config.Load(path)
	if len(diags) > 0 {
		m.writeDiagnostics(cfg, diags)
	}
	return cfg, !diags.HasErrors()
}

func (m meta) writeDiagnostics(cfg *config.Config, diags hcl.Diagnostics) {
	if cfg != nil {
		_ = cfg.WriteDiagnostics(m.stderr, diags)
		return
	}
	_ = config.WriteDiagnostics(m.stderr, nil, diags)
}

// logger returns the agent's logger as the config asks for it. When
// stderr is the systemd journal, plain lines go without a timestamp: the
// journal stamps each line itself. JSON lines keep their @timestamp, for
// whatever reads them out of the journal.
func (m meta) logger(cfg *config.Config) hclog.Logger {
	level := hclog.LevelFromString(cfg.Agent.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        "tocsin",
		Level:       level,
		Output:      m.stderr,
		JSONFormat:  cfg.Agent.LogJSON,
		DisableTime: !cfg.Agent.LogJSON && toJournal(m.stderr, os.Getenv("JOURNAL_STREAM")),
	})
}

// quietLogger is for the one-shot commands: only warnings and errors.
func (m meta) quietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "tocsin", Level: hclog.Warn, Output: m.stderr})
}

// defaultConfigPath is used when -config is not given.
func defaultConfigPath() string {
	if p := os.Getenv("TOCSIN_CONFIG"); p != "" {
		return p
	}
	return "/etc/tocsin"
}
