package main

import (
	"fmt"
	"path/filepath"

	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// stateCommand is the parent of the state subcommands; it only explains
// them.
type stateCommand struct{ meta }

func (c *stateCommand) Synopsis() string {
	return "Recover the rule state file (data_dir/state.db)"
}

func (c *stateCommand) Help() string {
	return `Usage: tocsin state <subcommand> [options]

  The agent keeps each rule's alert state in data_dir/state.db: which
  alerts are pending or firing, and when each was last notified, so that a
  restart neither repeats nor forgets an alert.

    state recover   Salvage a damaged state file (the agent must be stopped).`
}

func (c *stateCommand) Run([]string) int {
	fmt.Fprintln(c.stderr, c.Help())
	return exitUsage
}

type stateRecoverCommand struct{ meta }

func (c *stateRecoverCommand) Synopsis() string {
	return "Salvage a damaged rule state file while the agent is stopped"
}

func (c *stateRecoverCommand) Help() string {
	return `Usage: tocsin state recover [-config PATH]

  When the agent refuses to start because its rule state file is damaged
  (truncated, garbage, a record that does not decode) or was written by a
  newer Tocsin, recover moves the file aside to state.db.corrupt-<time>,
  writes every rule state that can still be read to a new state.db and
  says what it kept and what it lost. Alerts whose state was kept are not
  notified again; rules whose state was lost start afresh and notify again
  if their condition holds. Moving the file aside by hand loses every
  state: every firing alert is then sent again. A file that is not damaged
  is left as it is.

  It works on the file alone: stop the agent first. It refuses while the
  agent answers at its listen address or holds the file.

  Exits 0 when the file is intact or was recovered, 1 when not.

Options:
` + outboxConfigOption
}

func (c *stateRecoverCommand) Run(args []string) int {
	return c.runRecover(args, c.Help(), recoverTarget{
		command: "state recover",
		noun:    "rule state file",
		alone:   "state file",
		path:    func(dataDir string) string { return filepath.Join(dataDir, engine.StateFile) },
		recover: func(path string) (fmt.Stringer, error) { return rules.RecoverStore(path) },
	})
}
