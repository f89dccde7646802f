package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/oauthlogin"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type oauthCommand struct{ meta }

func (c *oauthCommand) Synopsis() string {
	return "Log a transport in to Microsoft 365 or Google (oauth login, oauth status)"
}

func (c *oauthCommand) Help() string {
	return `Usage: tocsin oauth <subcommand> [options]

  Transports that act for a user (smtp-oauth-ms with mode = "delegated",
  smtp-oauth-google and gmail with client_file) need a refresh token that an
  operator obtains once, by signing in:

    oauth login    Sign in and store the refresh token, encrypted.
    oauth status   Show which transports hold a token, and since when.`
}

func (c *oauthCommand) Run([]string) int {
	fmt.Fprintln(c.stderr, c.Help())
	return exitUsage
}

type oauthLoginCommand struct{ meta }

func (c *oauthLoginCommand) Synopsis() string {
	return "Sign a transport in and store its refresh token"
}

func (c *oauthLoginCommand) Help() string {
	return `Usage: tocsin oauth login [-config PATH] -transport NAME [-device] [-port N]

  Runs the provider's sign-in for the transport and stores the refresh token
  encrypted under data_dir/tokens (mode 0600), with the key that the agent
  block's token_key_file or token_key_env names (default data_dir/token.key,
  which this command creates when it does not exist; nothing else creates
  it). Run as root, it leaves the files it writes to data_dir's owner, so
  that the agent running as that user can read them. Then it checks the
  transport with the new token.

  The browser flow (default) prints a URL to open; the browser comes back to
  http://localhost:PORT on this machine, with PKCE and a state check. On a
  headless appliance either forward the port (ssh -L PORT:127.0.0.1:PORT)
  and pass the same -port, or use -device: open a URL on any device and type
  the code shown (Microsoft only; Google does not allow mail scopes there).

  Restart the agent afterwards so the running transport uses the token.

Options:

  -config PATH      Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).
  -transport NAME   The transport block to sign in.
  -device           Use the device flow instead of the browser.
  -port N           Loopback port for the browser's redirect (default: any free port).
  -timeout D        Give up when nobody signed in after this long (default 10m).`
}

func (c *oauthLoginCommand) Run(args []string) int {
	fs := c.flags("oauth login", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	name := fs.String("transport", "", "")
	device := fs.Bool("device", false, "")
	port := fs.Int("port", 0, "")
	timeout := fs.Duration("timeout", oauthlogin.DefaultTimeout, "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *name == "" {
		return c.usageError(fs, "-transport is required")
	}
	if *port < 0 || *port > 65535 {
		return c.usageError(fs, "-port must be between 0 and 65535")
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	if !c.hasTransport(cfg, *name) {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Minute)
	defer cancel()
	host := agent.NewPluginHost(c.quietLogger(), cfg.Agent)
	defer host.Close()
	store := agent.NewTokenStore(cfg.Agent)
	t, ok := c.prepare(ctx, cfg, host, store, *name)
	if !ok {
		return exitError
	}
	in, ok := t.Plugin.(sdk.Authorizer)
	if !ok {
		fmt.Fprintf(c.stderr, "Error: transport %q cannot sign in\n", *name)
		return exitError
	}
	lc, err := in.LoginConfig(ctx)
	if errors.Is(err, sdk.ErrNoLogin) {
		fmt.Fprintf(c.stderr, "Error: transport %q (plugin %s) has no sign-in: its credentials are settings in its transport block, and tocsin test-send checks them.\n", *name, t.Description.Name)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: transport %q: %v\n", *name, err)
		return exitError
	}

	tok, err := oauthlogin.Run(ctx, lc, oauthlogin.Options{Device: *device, Port: *port, Out: c.stdout, Timeout: *timeout})
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	if err := store.Put(tokenstore.Entry{
		Transport: *name, RefreshToken: tok.RefreshToken, Account: lc.Account,
		Scopes: lc.Scopes, TokenURL: lc.TokenURL,
	}); err != nil {
		fmt.Fprintf(c.stderr, "Error: store the refresh token: %v\n", err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "Stored the refresh token of transport %q in %s, encrypted with the %s.\n", *name, store.Dir(), store.KeySource())

	// Prove the token works the way the agent will use it.
	if _, err := t.Plugin.Configure(ctx, sdk.Config{
		Transport: *name, From: t.Config.From, Settings: t.Config.Settings,
		Credential: tok.RefreshToken,
		SaveCredential: func(v string) {
			if err := store.SaveCredential(*name, v); err != nil {
				fmt.Fprintf(c.stderr, "Error: store the rotated refresh token: %v\n", err)
			}
		},
	}); err != nil {
		fmt.Fprintf(c.stderr, "Error: configure transport %q with the new token: %v\n", *name, err)
		return exitError
	}
	if err := t.Check(ctx); err != nil {
		printDeliveryError(c.stderr, err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "Transport %q works with the new token. Restart the agent so that it uses it.\n", *name)
	return exitOK
}

// hasTransport reports whether cfg has the transport name, printing the
// names it has when it does not.
func (m meta) hasTransport(cfg *config.Config, name string) bool {
	if cfg.Transport(name) != nil {
		return true
	}
	var names []string
	for _, t := range cfg.Transports {
		names = append(names, t.Name)
	}
	fmt.Fprintf(m.stderr, "Error: no transport %q in the configuration (it has: %s)\n", name, strings.Join(names, ", "))
	return false
}

// prepare starts and configures the one transport name. Warnings are not
// printed: before a login, "no refresh token stored" is expected.
func (m meta) prepare(ctx context.Context, cfg *config.Config, host *pluginhost.Host, creds agent.Credentials, name string) (*agent.Transport, bool) {
	ts, diags := agent.PrepareTransports(ctx, cfg, host, m.quietLogger(), creds, name)
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 {
		m.writeDiagnostics(cfg, errs)
	}
	t := ts[name]
	return t, t != nil && !errs.HasErrors()
}

type oauthStatusCommand struct{ meta }

func (c *oauthStatusCommand) Synopsis() string {
	return "Show which transports hold a stored refresh token"
}

func (c *oauthStatusCommand) Help() string {
	return `Usage: tocsin oauth status [-config PATH]

  Lists the refresh tokens that tocsin oauth login stored: the transport,
  the account, when the token was obtained and when the provider last
  rotated it. It never prints a token.

Options:

  -config PATH      Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).`
}

func (c *oauthStatusCommand) Run(args []string) int {
	fs := c.flags("oauth status", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	store := agent.NewTokenStore(cfg.Agent)
	// A file that cannot be read (another key, damage) is reported after
	// the table of those that can.
	list, listErr := store.List()
	stored := map[string]tokenstore.Status{}
	for _, s := range list {
		stored[s.Transport] = s
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSPORT\tPLUGIN\tTOKEN\tACCOUNT\tOBTAINED\tLAST REFRESHED")
	for _, t := range cfg.Transports {
		s, ok := stored[t.Name]
		if !ok {
			fmt.Fprintf(tw, "%s\t%s\tnone\t-\t-\t-\n", t.Name, t.Plugin)
			continue
		}
		delete(stored, t.Name)
		fmt.Fprintf(tw, "%s\t%s\tstored\t%s\t%s\t%s\n", t.Name, t.Plugin, dash(s.Account), stamp(s.ObtainedAt), stamp(s.RefreshedAt))
	}
	for _, s := range list {
		if _, left := stored[s.Transport]; left {
			fmt.Fprintf(tw, "%s\t(not configured)\tstored\t%s\t%s\t%s\n", s.Transport, dash(s.Account), stamp(s.ObtainedAt), stamp(s.RefreshedAt))
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(c.stdout, "\nTokens live in %s, encrypted with the %s.\n", store.Dir(), store.KeySource())
	if listErr != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", listErr)
		return exitError
	}
	return exitOK
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
