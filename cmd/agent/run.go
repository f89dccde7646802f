package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
)

// shutdownTimeout bounds a graceful stop.
const shutdownTimeout = 30 * time.Second

type runCommand struct{ meta }

func (c *runCommand) Synopsis() string {
	return "Run the agent (or -dev for a try-out with nothing to set up)"
}

func (c *runCommand) Help() string {
	return `Usage: tocsin run [-config PATH] | -dev [-dev-dir DIR]

  Runs the agent: loads the configuration, starts and configures the
  transport plugins, and serves /healthz on the agent's listen address until
  SIGINT or SIGTERM, then stops cleanly.

  With -dev it needs no configuration: it starts a mail sink on 127.0.0.1,
  writes a config that sends to it through the real smtp-basic plugin, and
  sends a startup mail. Every mail the sink receives is printed here and
  saved as an .eml file under the dev directory.

Options:

  -config PATH   Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).
  -dev           Dev mode.
  -dev-dir DIR   Dev mode's directory for its config, data and mail (default .tocsin-dev).`
}

func (c *runCommand) Run(args []string) int {
	fs := c.flags("run", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	dev := fs.Bool("dev", false, "")
	devDir := fs.String("dev-dir", ".tocsin-dev", "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dev {
		return c.runDev(ctx, *devDir)
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	return c.serve(ctx, cfg, "", nil, *path)
}

// serve starts an agent for cfg, calls started once it is up, and runs it
// until ctx ends; then it stops the agent. hint is printed when the agent
// cannot start. On SIGHUP it loads path again and reloads the agent; a
// configuration with errors is logged and not applied.
func (c *runCommand) serve(ctx context.Context, cfg *config.Config, hint string, started func(*agent.Agent, hclog.Logger), path string) int {
	logger := c.logger(cfg)
	a, diags := agent.Start(ctx, cfg, logger)
	if len(diags) > 0 {
		c.writeDiagnostics(cfg, diags)
	}
	if a == nil {
		if hint != "" {
			fmt.Fprintln(c.stderr, hint)
		}
		return exitError
	}
	if started != nil {
		started(a, logger)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Under systemd: ready now that the plugins are configured and the
	// listener is up. The keep-alives come from this loop, after a probe
	// of the agent's state: a loop or a reload that hangs, or a deadlock
	// on the agent's lock, stops them, and systemd restarts the agent.
	sd := newSDNotifier(logger)
	sd.ready("Running.")
	var keepAlive <-chan time.Time
	if every := sd.keepAliveEvery(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		keepAlive = t.C
	}
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-hup:
			sd.reloading()
			sd.keepAlive() // a reload gets a whole watchdog interval
			status := "Running; the configuration was reloaded."
			if !c.reload(ctx, a, logger, path) {
				status = "The last reload was refused; the old configuration keeps running (see the log)."
			}
			sd.ready(status)
			sd.keepAlive()
		case <-keepAlive:
			a.Transports() // takes the lock that a reload and every status request take
			sd.keepAlive()
		}
	}
	sd.stopping()
	reason := stopReason(ctx)
	logger.Info("stopping", "reason", reason)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// A planned stop: the peers hear of it, so that the partner does not
	// report the silence that follows as a failure.
	a.AnnounceStop(sctx, reason)
	if err := a.Stop(sctx); err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	return exitOK
}

// reload loads path and hands it to the agent; what is wrong is logged,
// with file:line:col, and the running configuration stays. It reports
// whether the configuration was applied.
func (c *runCommand) reload(ctx context.Context, a *agent.Agent, logger hclog.Logger, path string) bool {
	if path == "" {
		logger.Warn("SIGHUP: dev mode has no configuration file to reload")
		return true
	}
	logger.Info("SIGHUP: reloading the configuration", "config", path)
	cfg, diags := loadForReload(path, logger)
	if !diags.HasErrors() {
		diags = append(diags, a.Reload(ctx, cfg)...)
	}
	if len(diags) == 0 {
		return true
	}
	var b strings.Builder
	_ = cfg.WriteDiagnostics(&b, diags)
	if diags.HasErrors() {
		logger.Error("reload refused; the old configuration keeps running", "diagnostics", b.String())
		return false
	}
	logger.Warn("reloaded with warnings", "diagnostics", b.String())
	return true
}
