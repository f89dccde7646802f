package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

type pluginCommand struct{ meta }

func (c *pluginCommand) Synopsis() string {
	return "Work on a transport plugin (plugin check)"
}

func (c *pluginCommand) Help() string {
	return `Usage: tocsin plugin <subcommand> [options]

  For plugin authors:

    plugin check   Run the conformance kit against a plugin executable.`
}

func (c *pluginCommand) Run([]string) int {
	fmt.Fprintln(c.stderr, c.Help())
	return exitUsage
}

type pluginCheckCommand struct{ meta }

func (c *pluginCheckCommand) Synopsis() string {
	return "Run the conformance kit against a plugin executable"
}

func (c *pluginCheckCommand) Help() string {
	return `Usage: tocsin plugin check [-config FILE] [-json] [-v] [-timeout DURATION] PATH

  Starts the plugin executable at PATH the way the agent does (go-plugin's
  handshake, gRPC with AutoMTLS), whatever its language, and runs the
  conformance kit against it, the same checks as sdktest.RunConformance in
  Go: handshake and protocol version, describe and its schema, configure
  (with -config's settings, and with none: errors must name the missing
  required setting), send before configure, batches with one result per
  message in order, an invalid message (a permanent error of its own),
  concurrent sends, check, refusals classed temporary or permanent (with
  the kit's SMTP or HTTP target), cancellation and deadlines, a crash of
  the plugin process in the middle of a send (the agent's host starts it
  again and replays its settings), and planted secrets, which must not
  appear in any error, diagnostic, receipt or log line.

  It prints one line per check, PASS, FAIL or SKIP with the reason, and a
  summary, and exits 1 when a check failed.

  Without -config the kit has nowhere to deliver: it checks what needs no
  target (handshake, describe, configure errors, send before configure)
  and skips the checks that need settings or a successful send, saying
  so.

  -config FILE holds the body of the transport's config block: the
  settings as in a transport's config { } in the agent's configuration.
  Expressions may use env("NAME") and the kit's own targets, which it
  starts only when the file refers to them:

    kit.smtp_host, kit.smtp_port         an SMTP server on 127.0.0.1,
    kit.smtp_username, kit.smtp_password   without TLS, with this login
    kit.http_url                         an HTTP server that accepts any
                                           POST or PUT (a webhook)
    kit.directory                        an empty temporary directory

  Delivered messages are looked for there: by Message-ID header, or by
  the message's ID anywhere in a payload that is not a mail. With the SMTP
  or HTTP target the kit also points the plugin at a twin that never
  answers, to see it give up once the agent cancels. Settings that point
  anywhere else deliver there for real, unverified.

  Example for an SMTP plugin:

    host                = kit.smtp_host
    port                = kit.smtp_port
    security            = "none"
    allow_insecure_auth = true
    username            = kit.smtp_username
    password            = kit.smtp_password

Options:

  -config FILE        Settings for the plugin (see above).
  -json               Print the report as JSON.
  -timeout DURATION   Bound on each call to the plugin and on waiting for a
                      delivery (default 30s).
  -v                  Print what each check observed, and the plugin's log
                      output.`
}

func (c *pluginCheckCommand) Run(args []string) int {
	fs := c.flags("plugin check", c.Help())
	configPath := fs.String("config", "", "")
	asJSON := fs.Bool("json", false, "")
	verbose := fs.Bool("v", false, "")
	timeout := fs.Duration("timeout", sdktest.DefaultConformanceTimeout, "")
	// Options may also follow PATH.
	rest, code, ok := c.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageError(fs, "give the path of one plugin executable")
	}
	if *timeout <= 0 {
		return c.usageError(fs, "-timeout must be positive")
	}
	path, err := filepath.Abs(rest[0])
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		fmt.Fprintf(c.stderr, "Error: %s is not an executable file: build the plugin, or chmod +x it\n", path)
		return exitError
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	targets := &kitTargets{}
	defer targets.Close()
	opts := sdktest.Options{
		Timeout:        *timeout,
		SecretSettings: true,
		NoTarget:       "no -config: give the plugin settings that point it at a target (see `tocsin plugin check -h`)",
	}
	if *configPath != "" {
		if code := c.loadCheckConfig(*configPath, targets, &opts); code != exitOK {
			return code
		}
	}

	logs := &sdktest.Logs{}
	host := pluginhost.New(hclog.New(&hclog.LoggerOptions{Name: "check", Level: hclog.Trace, Output: logs}), filepath.Dir(path))
	defer host.Close()
	opts.Logs = logs.String
	if !*asJSON {
		fmt.Fprintf(c.stdout, "Checking %s\n", path)
		opts.Progress = func(r sdktest.CheckResult) {
			one := sdktest.Report{Checks: []sdktest.CheckResult{r}}
			var b strings.Builder
			_ = one.WriteText(&b, *verbose)
			text, _, _ := strings.Cut(b.String(), "\n"+one.Summary())
			fmt.Fprintln(c.stdout, text)
		}
	}
	rep := sdktest.Run(ctx, processSubject(host, path), opts)
	if *asJSON {
		if err := rep.WriteJSON(c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
	} else {
		switch {
		case *verbose && rep.Logs != "":
			fmt.Fprintf(c.stdout, "\nLog output of the plugin and its host:\n%s", rep.Logs)
		case !rep.OK():
			if own := pluginLines(rep.Logs, filepath.Base(path)); own != "" {
				fmt.Fprintf(c.stdout, "\nThe plugin's log output (-v shows its host's too):\n%s", own)
			}
		}
		fmt.Fprintln(c.stdout, rep.Summary())
	}
	if !rep.OK() {
		return exitError
	}
	return exitOK
}

// processSubject starts each instance as a plugin process through the
// agent's plugin host, so the kit sees the plugin exactly as the agent
// does, restarts after a crash included.
func processSubject(host *pluginhost.Host, path string) sdktest.Subject {
	name := strings.TrimPrefix(filepath.Base(path), pluginhost.Prefix)
	return sdktest.Subject{Process: true, Connect: func(context.Context) (*sdktest.Instance, error) {
		in := host.Instance(pluginhost.Spec{Name: "check", Plugin: name, Path: path})
		var mu sync.Mutex
		seen := 0
		return &sdktest.Instance{
			Transport: in,
			Faults: func() []string {
				mu.Lock()
				defer mu.Unlock()
				n := in.Starts()
				last := seen
				seen = n
				if last > 0 && n > last {
					return []string{"the plugin process exited during the call (a panic or a crash: see the plugin's log output) and the agent's host had to start it again; the contract is to return an error instead"}
				}
				return nil
			},
			Crash: func() error {
				pid := in.PID()
				if pid == 0 {
					return errors.New("the plugin process is not running")
				}
				p, err := os.FindProcess(pid)
				if err != nil {
					return fmt.Errorf("find plugin process %d: %w", pid, err)
				}
				return p.Kill()
			},
			Close: in.Kill,
		}, nil
	}}
}

// pluginLines returns the lines of logs that the plugin logged itself,
// which go-plugin names after the executable.
func pluginLines(logs, exe string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(logs, "\n") {
		if strings.Contains(line, "."+exe+": ") {
			b.WriteString(line)
		}
	}
	return b.String()
}
