package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
)

type validateCommand struct{ meta }

func (c *validateCommand) Synopsis() string { return "Check a configuration, plugin settings included" }

func (c *validateCommand) Help() string {
	return `Usage: tocsin validate [-config PATH]

  Loads the configuration (a file, or a directory of *.hcl files), starts
  each transport's plugin to check its settings against the plugin's schema,
  and prints every problem at once with file:line:col. Nothing is sent.

  A valid configuration is followed by each transport's credential and
  when it expires (credential.NAME, which the rules read).

  Exits 0 when the configuration is valid (warnings may be printed), 1 when
  it has errors. A peer link that anyone on the network could answer in
  the partner's place (plain HTTP, or certificate verification off) is an
  error here, unless the peer's insecure setting accepts it; tocsin run
  keeps alerting with such a configuration, but does not read that peer.

Options:

  -config PATH   Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).`
}

func (c *validateCommand) Run(args []string) int {
	fs := c.flags("validate", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, ok := c.loadStrict(*path)
	if cfg == nil {
		return exitError
	}
	// A backup checks the transports it took from its settings peer too.
	cfg, synced := agent.SyncedConfig(cfg, c.quietLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host := agent.NewPluginHost(c.quietLogger(), cfg.Agent)
	defer host.Close()
	// Plugin settings are checked even when the rest has errors, so the
	// operator sees everything at once.
	ts, diags := agent.PrepareTransports(ctx, cfg, host, c.quietLogger(), agent.NewTokenStore(cfg.Agent))
	if len(diags) > 0 {
		c.writeDiagnostics(cfg, diags)
	}
	if !ok || diags.HasErrors() {
		return exitError
	}
	for _, l := range synced {
		fmt.Fprintln(c.stdout, l)
	}
	fmt.Fprintf(c.stdout, "The configuration is valid: %d transport(s), %d contact(s), from %d file(s).\n", len(cfg.Transports), len(cfg.Contacts), len(cfg.Files))
	now := time.Now()
	writeCredentials(c.stdout, cfg, agent.CredentialFacts(cfg, ts, now, c.quietLogger()), now)
	return exitOK
}

// loadStrict is load for validate: the problems that open the API or the
// peer link to others (config.Config.Insecure) are errors, not warnings.
func (m meta) loadStrict(path string) (*config.Config, bool) {
	cfg, diags := config.Load(path)
	if cfg != nil {
		for _, d := range cfg.Insecure {
			d.Severity = hcl.DiagError
		}
	}
	if len(diags) > 0 {
		m.writeDiagnostics(cfg, diags)
	}
	return cfg, !diags.HasErrors()
}
