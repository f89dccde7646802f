package main

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type testSendCommand struct{ meta }

func (c *testSendCommand) Synopsis() string { return "Send one test mail through a transport now" }

func (c *testSendCommand) Help() string {
	return `Usage: tocsin test-send [-config PATH] -transport NAME -to ADDR [-subject S]

  Starts the transport's plugin, sends one test mail right away and prints
  the server's receipt, or the error with what to do about it. Use it after
  every change to a transport: it proves the settings end to end.

  Exits 0 when the mail was accepted, 1 when it was not.

Options:

  -config PATH      Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).
  -transport NAME   The transport block to send through.
  -to ADDR          Recipient address.
  -subject S        Subject (default "Tocsin test mail from NODE").
  -timeout D        Give up after this long (default 1m).`
}

func (c *testSendCommand) Run(args []string) int {
	fs := c.flags("test-send", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	name := fs.String("transport", "", "")
	to := fs.String("to", "", "")
	subject := fs.String("subject", "", "")
	timeout := fs.Duration("timeout", time.Minute, "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *name == "" {
		return c.usageError(fs, "-transport is required")
	}
	rcpt, err := mail.ParseAddress(*to)
	if *to == "" || err != nil {
		return c.usageError(fs, "-to must be a mail address, such as ops@example.com")
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	tc := cfg.Transport(*name)
	if tc == nil {
		var names []string
		for _, t := range cfg.Transports {
			names = append(names, t.Name)
		}
		fmt.Fprintf(c.stderr, "Error: no transport %q in the configuration (it has: %s)\n", *name, strings.Join(names, ", "))
		return exitError
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	host := agent.NewPluginHost(c.quietLogger(), cfg.Agent)
	defer host.Close()
	ts, diags := agent.PrepareTransports(ctx, cfg, host, c.quietLogger(), agent.NewTokenStore(cfg.Agent), *name)
	if len(diags) > 0 {
		c.writeDiagnostics(cfg, diags)
	}
	t := ts[*name]
	if t == nil || diags.HasErrors() {
		return exitError
	}

	now := time.Now()
	if *subject == "" {
		*subject = "Tocsin test mail from " + cfg.Agent.Node
	}
	host2, _ := os.Hostname()
	from, err := notify.Sender(t.Config.Name, t.Config.From)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	msg := notify.Message(&outbox.Entry{
		ID:         notify.NewMessageID(cfg.Agent.Node, now),
		EnqueuedAt: now,
		Mail: outbox.Mail{
			To:      []sdk.Address{*rcpt},
			Subject: *subject,
			Text: fmt.Sprintf("This is a test mail from Tocsin %s on node %s (host %s), sent at %s\nthrough transport %q (plugin %s %s).\n\nIf you can read this, the transport works.\n",
				buildinfo.Version, cfg.Agent.Node, host2, now.UTC().Format(time.RFC1123Z), t.Config.Name, t.Description.Name, t.Description.Version),
		},
	}, from)
	res, err := t.Send(ctx, []*sdk.Message{msg})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		printDeliveryError(c.stderr, err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "Sent %s to %s via %s (%s %s).\n", msg.ID, rcpt.Address, t.Config.Name, t.Description.Name, t.Description.Version)
	if res[0].Receipt != "" {
		fmt.Fprintf(c.stdout, "Server: %s\n", res[0].Receipt)
	}
	return exitOK
}

// printDeliveryError prints a failed delivery the way an operator needs it:
// the error, the provider's raw reply, and what to do.
func printDeliveryError(w interface{ Write([]byte) (int, error) }, err error) {
	de := sdk.AsDeliveryError(err)
	fmt.Fprintf(w, "Error: %v\n", de)
	if de.Reply != "" && !strings.Contains(de.Error(), de.Reply) {
		fmt.Fprintf(w, "  Reply:  %s\n", de.Reply)
	}
	if de.Remedy != "" {
		fmt.Fprintf(w, "  Remedy: %s\n", de.Remedy)
	}
	if de.Temporary() {
		fmt.Fprintln(w, "  This error is temporary: the agent would retry it.")
	} else {
		fmt.Fprintln(w, "  This error is permanent: retrying will not help until something changes.")
	}
}
