package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
)

// How long the outbox commands wait for the agent: to tell whether it runs,
// and for an answer once they know it does.
const (
	probeTimeout = 2 * time.Second
	apiTimeout   = 30 * time.Second
)

const outboxConfigOption = `
  -config PATH   Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).`

// outboxWhere is the paragraph that the help of every outbox command
// shares.
const outboxWhere = `
  While the agent runs, the command goes through its API at the listen
  address of the configuration (0.0.0.0 and :: mean this host's loopback
  address); when it does not run, it opens data_dir/outbox.db itself.
  The API wants the admin token the agent keeps in data_dir/admin.token,
  and over TLS the command trusts only the agent's own certificate: run
  it as the agent's user or root.`

// outboxCommand is the parent of the outbox subcommands; it only explains
// them.
type outboxCommand struct{ meta }

func (c *outboxCommand) Synopsis() string {
	return "List, show, retry or drop the notifications in the outbox"
}

func (c *outboxCommand) Help() string {
	return `Usage: tocsin outbox <subcommand> [options] [ID]

  Every notification waits in the outbox (data_dir/outbox.db) until a
  transport accepts it. One that failed on every transport of its contact
  stays there as a dead entry until an operator retries or drops it.

    outbox list      List the entries, with the error and remedy of dead ones.
    outbox show      Show one entry, with the last attempt's reply and remedy.
    outbox retry     Send an entry again, from the contact's first transport.
    outbox drop      Delete an entry.
    outbox recover   Salvage a damaged outbox file (the agent must be stopped).
` + outboxWhere
}

func (c *outboxCommand) Run([]string) int {
	fmt.Fprintln(c.stderr, c.Help())
	return exitUsage
}

type outboxListCommand struct{ meta }

func (c *outboxListCommand) Synopsis() string {
	return "List the entries of the outbox, with the remedy of dead ones"
}

func (c *outboxListCommand) Help() string {
	return `Usage: tocsin outbox list [-config PATH] [-state pending|dead] [-json]

  Lists the entries of the outbox, oldest first: pending entries wait for
  their next attempt, dead ones failed on every transport of their contact.
  Under the table, each dead entry's last error and what to do about it.
` + outboxWhere + `

  Exits 0 when the outbox could be read (also when it is empty), 1 when not.

Options:
` + outboxConfigOption + `
  -state S       Only the entries in state S: pending or dead.
  -json          Print the entries as JSON, as the agent's API serves them.`
}

func (c *outboxListCommand) Run(args []string) int {
	fs := c.flags("outbox list", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	state := fs.String("state", "", "")
	asJSON := fs.Bool("json", false, "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	switch outbox.State(*state) {
	case "", outbox.Pending, outbox.Dead:
	default:
		return c.usageError(fs, "-state must be %s or %s", outbox.Pending, outbox.Dead)
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	st, err := openOutboxStore(ctx, cfg, *path, c.stderr)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	defer c.closeStore(st)
	entries, err := st.list(ctx, *state)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	if *asJSON {
		return c.printJSON(outboxapi.List{Entries: entries})
	}
	printOutboxList(c.stdout, entries, *state, *path)
	return exitOK
}

type outboxShowCommand struct{ meta }

func (c *outboxShowCommand) Synopsis() string {
	return "Show one outbox entry, with its last attempt's reply and remedy"
}

func (c *outboxShowCommand) Help() string {
	return `Usage: tocsin outbox show [-config PATH] [-json] ID

  Shows the outbox entry ID (its Message-ID, as tocsin outbox list prints
  it): where it comes from, its recipients and attachments, its transport
  chain and attempts, and its last failed attempt with the provider's raw
  reply and the remedy. It never prints the message's body.
` + outboxWhere + `

  Exits 0 when the entry was shown, 1 when there is none with that ID.

Options:
` + outboxConfigOption + `
  -json          Print the entry as JSON, as the agent's API serves it.`
}

func (c *outboxShowCommand) Run(args []string) int {
	fs := c.flags("outbox show", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	asJSON := fs.Bool("json", false, "")
	id, code, ok := c.parseID(fs, args)
	if !ok {
		return code
	}
	return c.withStore(*path, func(ctx context.Context, st outboxStore) int {
		e, err := st.get(ctx, id)
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		if *asJSON {
			return c.printJSON(e)
		}
		printOutboxEntry(c.stdout, e)
		return exitOK
	})
}

type outboxRetryCommand struct{ meta }

func (c *outboxRetryCommand) Synopsis() string {
	return "Send an outbox entry again, from its contact's first transport"
}

func (c *outboxRetryCommand) Help() string {
	return `Usage: tocsin outbox retry [-config PATH] ID

  Puts the outbox entry ID, dead or pending, back at the start of its
  contact's transport chain, due now. A running agent sends it at once;
  a stopped one when it starts. Its attempts so far stay on record.
` + outboxWhere + `

  Exits 0 when the entry was put back, 1 when there is none with that ID.

Options:
` + outboxConfigOption
}

func (c *outboxRetryCommand) Run(args []string) int {
	fs := c.flags("outbox retry", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	id, code, ok := c.parseID(fs, args)
	if !ok {
		return code
	}
	return c.withStore(*path, func(ctx context.Context, st outboxStore) int {
		e, err := st.retry(ctx, id)
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		when := "the agent sends it when it starts"
		if st.running() {
			when = "the agent sends it now"
		}
		fmt.Fprintf(c.stdout, "Retrying %s through %s, the first transport of contact %s: %s (%s).\n",
			e.ID, dash(e.Transport), e.Contact, when, st.where())
		return exitOK
	})
}

type outboxDropCommand struct{ meta }

func (c *outboxDropCommand) Synopsis() string { return "Delete an entry from the outbox" }

func (c *outboxDropCommand) Help() string {
	return `Usage: tocsin outbox drop [-config PATH] ID

  Deletes the outbox entry ID, whatever its state: the notification is
  never sent. Use it for a dead entry that is no longer worth sending.
` + outboxWhere + `

  Exits 0 when the entry was deleted, 1 when there is none with that ID.

Options:
` + outboxConfigOption
}

func (c *outboxDropCommand) Run(args []string) int {
	fs := c.flags("outbox drop", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	id, code, ok := c.parseID(fs, args)
	if !ok {
		return code
	}
	return c.withStore(*path, func(ctx context.Context, st outboxStore) int {
		// Read it first, to say what was dropped.
		e, err := st.get(ctx, id)
		if err == nil {
			err = st.drop(ctx, id)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		fmt.Fprintf(c.stdout, "Dropped %s (%s, contact %s, subject %q) (%s).\n", e.ID, e.State, e.Contact, e.Subject, st.where())
		return exitOK
	})
}

type outboxRecoverCommand struct{ meta }

func (c *outboxRecoverCommand) Synopsis() string {
	return "Salvage a damaged outbox file while the agent is stopped"
}

func (c *outboxRecoverCommand) Help() string {
	return `Usage: tocsin outbox recover [-config PATH]

  When the agent refuses to start because its outbox file is damaged
  (truncated, garbage, a record that does not decode), recover moves the
  file aside to outbox.db.corrupt-<time>, writes every entry that can still
  be read to a new outbox.db and says what it kept and what it lost. A file
  that is not damaged is left as it is.

  It works on the file alone: stop the agent first. It refuses while the
  agent answers at its listen address or holds the file.

  Exits 0 when the file is intact or was recovered, 1 when not.

Options:
` + outboxConfigOption
}

func (c *outboxRecoverCommand) Run(args []string) int {
	return c.runRecover(args, c.Help(), recoverTarget{
		command: "outbox recover",
		noun:    "outbox file",
		alone:   "outbox file",
		path:    agent.OutboxPath,
		recover: func(path string) (fmt.Stringer, error) { return outbox.Recover(path) },
	})
}

// parseID parses args, which hold one entry ID with the flags before or
// after it. ok is false when the command must return code.
func (m meta) parseID(fs *flag.FlagSet, args []string) (id string, code int, ok bool) {
	ids, code, ok := m.parseArgs(fs, args)
	if !ok {
		return "", code, false
	}
	switch {
	case len(ids) == 0 || ids[0] == "":
		list := "tocsin outbox list"
		if f := fs.Lookup("config"); f != nil {
			list += " -config " + shellQuote(f.Value.String())
		}
		return "", m.usageError(fs, "give the ID of an outbox entry (`%s` shows them)", list), false
	case len(ids) > 1:
		return "", m.usageError(fs, "give one entry ID, not %d", len(ids)), false
	}
	return ids[0], 0, true
}

// withStore loads the configuration at path, opens its outbox and runs
// fn with it.
func (m meta) withStore(path string, fn func(context.Context, outboxStore) int) int {
	cfg, ok := m.load(path)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	st, err := openOutboxStore(ctx, cfg, path, m.stderr)
	if err != nil {
		fmt.Fprintf(m.stderr, "Error: %v\n", err)
		return exitError
	}
	defer m.closeStore(st)
	return fn(ctx, st)
}

func (m meta) closeStore(st outboxStore) {
	if err := st.close(); err != nil {
		fmt.Fprintf(m.stderr, "Error: %v\n", err)
	}
}

func (m meta) printJSON(v any) int {
	enc := json.NewEncoder(m.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(m.stderr, "Error: %v\n", err)
		return exitError
	}
	return exitOK
}

// printOutboxList prints entries as a table and, under it, the last error
// and remedy of the dead ones. state is the filter the entries were listed
// with, configPath the configuration they came from (the hints name it).
func printOutboxList(w io.Writer, entries []outboxapi.Entry, state, configPath string) {
	if len(entries) == 0 {
		if state == "" {
			fmt.Fprintln(w, "The outbox is empty.")
		} else {
			fmt.Fprintf(w, "The outbox holds no %s entries.\n", state)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCONTACT\tTRANSPORT\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	var dead []outboxapi.Entry
	for _, e := range entries {
		next := "-"
		if e.State != string(outbox.Dead) {
			next = stamp(e.NextAttempt)
		} else {
			dead = append(dead, e)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.State, e.Contact, dash(e.Transport), e.TotalAttempts, next, lastErrorCode(e.Last))
	}
	_ = tw.Flush()
	if len(dead) == 0 {
		return
	}
	cf := "-config " + shellQuote(configPath)
	fmt.Fprintf(w, "\nDead entries failed on every transport of their contact. Fix the cause, then\n"+
		"`tocsin outbox retry %s ID` sends one again;\n`tocsin outbox drop %s ID` deletes it.\n", cf, cf)
	for _, e := range dead {
		fmt.Fprintf(w, "\n%s (contact %s, subject %q)\n", e.ID, e.Contact, e.Subject)
		l := e.Last
		if l == nil {
			fmt.Fprintln(w, "  No attempt recorded.")
			continue
		}
		fmt.Fprintf(w, "  Error:  %s\n", indent(lastError(l), "          "))
		if l.Remedy != "" {
			fmt.Fprintf(w, "  Remedy: %s\n", indent(l.Remedy, "          "))
		}
	}
}

// lastErrorCode is the LAST ERROR column: the provider's code, else the
// kind of error, "-" before the first failure.
func lastErrorCode(l *outboxapi.Attempt) string {
	switch {
	case l == nil:
		return "-"
	case l.Code != "":
		return l.Code
	case l.Kind != "":
		return l.Kind
	default:
		return "error"
	}
}

// lastError is the error of an attempt, with where and when it happened.
func lastError(l *outboxapi.Attempt) string {
	where := stamp(l.At)
	if l.Transport != "" {
		where = "transport " + l.Transport + ", " + where
	}
	return fmt.Sprintf("%s (%s)", l.Error, where)
}

// printOutboxEntry prints everything about e.
func printOutboxEntry(w io.Writer, e outboxapi.Entry) {
	const pad = "                 "
	field := func(name, value string) {
		fmt.Fprintf(w, "%-17s%s\n", name+":", indent(value, pad))
	}
	field("ID", e.ID)
	field("State", e.State)
	field("Rule", dash(e.Rule))
	field("Event", dash(e.Event))
	field("Contact", e.Contact)
	field("To", dash(strings.Join(e.To, ", ")))
	field("Subject", e.Subject)
	if len(e.Attachments) > 0 {
		var as []string
		for _, a := range e.Attachments {
			as = append(as, fmt.Sprintf("%s (%d bytes)", a.Name, a.Size))
		}
		field("Attachments", strings.Join(as, ", "))
	}
	via := dash(strings.Join(e.Via, ", "))
	if e.Transport != "" {
		via += fmt.Sprintf(" (trying %s, %d of %d)", e.Transport, e.Hop+1, len(e.Via))
	} else {
		via += " (every transport failed)"
	}
	field("Via", via)
	field("Enqueued", stamp(e.EnqueuedAt))
	if e.State != string(outbox.Dead) {
		field("Next attempt", stamp(e.NextAttempt))
	}
	if e.Transport != "" {
		field("Attempts", fmt.Sprintf("%d on %s, %d in all", e.Attempts, e.Transport, e.TotalAttempts))
	} else {
		field("Attempts", fmt.Sprintf("%d in all", e.TotalAttempts))
	}
	l := e.Last
	if l == nil {
		field("Last attempt", "none failed yet")
		return
	}
	fmt.Fprintln(w, "Last attempt:")
	sub := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-15s%s\n", name+":", indent(value, pad))
		}
	}
	sub("At", stamp(l.At))
	sub("Transport", l.Transport)
	sub("Kind", l.Kind)
	sub("Code", l.Code)
	sub("Error", l.Error)
	sub("Reply", l.Reply)
	sub("Remedy", l.Remedy)
	if l.Wait != "" {
		sub("Retry after", l.Wait+" (the provider asked to wait)")
	}
}

// indent puts pad before every line of s but the first.
func indent(s, pad string) string {
	s = strings.TrimRight(s, "\r\n")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\n"+pad)
}

// shellQuote returns s as a shell word: as it is when it holds only
// characters a shell leaves alone, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
