package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/silence"
)

// maxSilenceAnswer bounds what the silence commands read of an answer.
const maxSilenceAnswer = 1 << 20

// silenceWhere is the paragraph that the help of every silence command
// shares.
const silenceWhere = `
  The command goes through the running agent's API at the listen address
  of the configuration (0.0.0.0 and :: mean this host's loopback address),
  with the admin token the agent keeps in data_dir/admin.token; over TLS
  it trusts only the agent's own certificate. Run it on the agent's host,
  as the agent's user or root. The agent must run: it keeps the silences
  in data_dir/silences.json, across restarts.`

// silenceCommand is the parent of the silence subcommands; it only
// explains them.
type silenceCommand struct{ meta }

func (c *silenceCommand) Synopsis() string {
	return "Silence a rule, this node or all rules for a while, list or expire silences"
}

func (c *silenceCommand) Help() string {
	return fmt.Sprintf(`Usage: tocsin silence <subcommand> [options] [ID]

  A silence says "I know, be quiet for two hours" without editing the
  rules: while it holds, the rules it covers are evaluated and recorded
  as usual (their state, for and repeat clocks run on, as with mute), but
  none of their notifications is sent, resolved ones included. A silence
  of this node or of all rules leaves the daily heartbeat alone, which
  lists the silences in force; only a silence that names it quiets it.
  When a silence ends, on its own or by expire, one mail says so to the
  contacts of the rules it covered, with what is still firing.

    silence add      Set a silence: a rule, a node or all, for %s.
    silence list     List the silences in force.
    silence expire   End a silence now.
`+silenceWhere, silence.Bounds())
}

func (c *silenceCommand) Run([]string) int {
	fmt.Fprintln(c.stderr, c.Help())
	return exitUsage
}

type silenceAddCommand struct{ meta }

func (c *silenceAddCommand) Synopsis() string {
	return "Silence a rule, this node or all rules for a while"
}

func (c *silenceAddCommand) Help() string {
	return fmt.Sprintf(`Usage: tocsin silence add [-config PATH] -rule NAME | -node NAME | -all -for DURATION -comment TEXT [-by WHO] [-json]

  Sets a silence from now for DURATION (%s): the notifications of
  the rules it covers are not sent until it ends. Say what it covers with
  exactly one of -rule, -node and -all. A silence of another node's name
  is kept but covers nothing on this agent.
`+silenceWhere+`

  Exits 0 when the silence was set, 1 when not.

Options:
`+outboxConfigOption+`
  -rule NAME     Silence the rule NAME (the daily heartbeat too, by name).
  -node NAME     Silence every rule of this agent when its node is NAME.
  -all           Silence every rule (but the daily heartbeat).
  -for DURATION  How long, such as 2h or 90m (required).
  -comment TEXT  Why (required): the list, the heartbeat and the mail at
                 the end show it.
  -by WHO        Who sets it (default: the user who runs the command,
                 $SUDO_USER under sudo).
  -json          Print the silence as JSON, as the agent's API serves it.`,
		silence.Bounds())
}

func (c *silenceAddCommand) Run(args []string) int {
	fs := c.flags("silence add", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	rule := fs.String("rule", "", "")
	node := fs.String("node", "", "")
	all := fs.Bool("all", false, "")
	dur := fs.String("for", "", "")
	comment := fs.String("comment", "", "")
	by := fs.String("by", "", "")
	asJSON := fs.Bool("json", false, "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	req := silence.Request{Rule: *rule, Node: *node, All: *all, For: *dur, Comment: *comment, By: *by}
	if req.By == "" {
		req.By = osUser()
	}
	if _, err := req.Validate(); err != nil {
		return c.usageError(fs, "%s", strings.TrimPrefix(err.Error(), silence.ErrInvalid.Error()+": "))
	}
	return c.withAgent(*path, func(ctx context.Context, cfg *config.Config, cl *agentClient) int {
		var s agent.SilenceView
		if err := silenceCall(ctx, cl, http.MethodPost, agent.SilencesPath, req, http.StatusCreated, &s); err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		if *asJSON {
			return c.printJSON(s)
		}
		fmt.Fprintf(c.stdout, "Silenced %s until %s (ID %s, by %s): %s\n", s.Target(), stamp(s.End), s.ID, s.By, s.Comment)
		if !s.Applies {
			fmt.Fprintf(c.stdout, "Note: this agent's node is %q: the silence covers nothing here.\n", cfg.Agent.Node)
		}
		fmt.Fprintf(c.stdout, "`tocsin silence expire -config %s %s` ends it sooner.\n", shellQuote(*path), s.ID)
		return exitOK
	})
}

type silenceListCommand struct{ meta }

func (c *silenceListCommand) Synopsis() string { return "List the silences in force" }

func (c *silenceListCommand) Help() string {
	return `Usage: tocsin silence list [-config PATH] [-json]

  Lists the silences in force, with what each covers, until when, who set
  it and why, and how many notifications it has kept back.
` + silenceWhere + `

  Exits 0 when the list could be read (also when it is empty), 1 when not.

Options:
` + outboxConfigOption + `
  -json          Print the silences as JSON, as the agent's API serves them.`
}

func (c *silenceListCommand) Run(args []string) int {
	fs := c.flags("silence list", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	asJSON := fs.Bool("json", false, "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	return c.withAgent(*path, func(ctx context.Context, _ *config.Config, cl *agentClient) int {
		var l agent.SilenceList
		if err := silenceCall(ctx, cl, http.MethodGet, agent.SilencesPath, nil, http.StatusOK, &l); err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		if *asJSON {
			return c.printJSON(l)
		}
		printSilences(c.stdout, l)
		return exitOK
	})
}

// printSilences prints l as a table.
func printSilences(w io.Writer, l agent.SilenceList) {
	if l.Problem != "" {
		fmt.Fprintf(w, "Warning: %s\n\n", l.Problem)
	}
	if len(l.Silences) == 0 {
		fmt.Fprintln(w, "No silence is in force.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTARGET\tUNTIL\tBY\tKEPT BACK\tCOMMENT")
	for _, s := range l.Silences {
		target := s.Target()
		if !s.Applies {
			target += " (not this node)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, target, stamp(s.End), s.By, s.Suppressed, oneLine(s.Comment))
	}
	_ = tw.Flush()
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	first, _, cut := strings.Cut(s, "\n")
	if cut {
		return first + " ..."
	}
	return first
}

type silenceExpireCommand struct{ meta }

func (c *silenceExpireCommand) Synopsis() string { return "End a silence now" }

func (c *silenceExpireCommand) Help() string {
	return `Usage: tocsin silence expire [-config PATH] [-by WHO] ID

  Ends the silence ID (as tocsin silence list prints it) now. As when it
  runs out, one mail tells the contacts of the rules it covered that it
  ended, with what is still firing; a firing rule notifies again at its
  next repeat.
` + silenceWhere + `

  Exits 0 when the silence was ended, 1 when none in force has that ID.

Options:
` + outboxConfigOption + `
  -by WHO        Who ends it (default: the user who runs the command,
                 $SUDO_USER under sudo).`
}

func (c *silenceExpireCommand) Run(args []string) int {
	fs := c.flags("silence expire", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	by := fs.String("by", "", "")
	ids, code, ok := c.parseArgs(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(ids) == 0 || ids[0] == "":
		return c.usageError(fs, "give the ID of a silence (`tocsin silence list -config %s` shows them)", shellQuote(*path))
	case len(ids) > 1:
		return c.usageError(fs, "give one silence ID, not %d", len(ids))
	}
	who := *by
	if who == "" {
		who = osUser()
	}
	return c.withAgent(*path, func(ctx context.Context, _ *config.Config, cl *agentClient) int {
		var s agent.SilenceView
		if err := silenceCall(ctx, cl, http.MethodPost, agent.SilencesPath+"/"+ids[0]+"/expire", agent.SilenceExpire{By: who}, http.StatusOK, &s); err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		fmt.Fprintf(c.stdout, "Expired the silence %s of %s (by %s); the mail that says it ended is on its way.\n", s.ID, s.Target(), s.ExpiredBy)
		return exitOK
	})
}

// withAgent loads the configuration at path, finds its running agent and
// runs fn with a client for its API.
func (m meta) withAgent(path string, fn func(context.Context, *config.Config, *agentClient) int) int {
	cfg, ok := m.load(path)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
	client, p := probeAgent(pctx, cfg.Agent)
	pcancel()
	switch {
	case p.err != nil:
		fmt.Fprintf(m.stderr, "Error: the agent does not answer at %s: %v\nSilences live in the running agent: start it (systemctl start tocsin, or tocsin run -config %s), then try again.\n", p.addr, p.err, shellQuote(path))
		return exitError
	case p.node != cfg.Agent.Node:
		fmt.Fprintf(m.stderr, "Error: %s answers as node %q, not %q (the agent of another configuration); give the -config of the agent you mean.\n", p.addr, p.node, cfg.Agent.Node)
		return exitError
	}
	return fn(ctx, cfg, client)
}

// silenceCall sends method path with body (as JSON, when not nil) to the
// agent and decodes an answer with status want into out. Any other
// answer is an error with the agent's message.
func silenceCall(ctx context.Context, cl *agentClient, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.url(path), rd)
	if err != nil {
		return fmt.Errorf("ask the agent: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := cl.refused(resp, method, path); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(readErrorBody(resp.Body)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSilenceAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: not a tocsin agent's answer: %w", method, path, err)
	}
	return nil
}

// osUser is who runs the command, for -by: the user sudo was run by, else
// the process's user, else $USER.
func osUser() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
