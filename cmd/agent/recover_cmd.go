package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// recoverTarget is the file a recover command salvages.
type recoverTarget struct {
	// command is the command's name ("outbox recover").
	command string
	// noun names the file in "there is no <noun> <path>".
	noun string
	// alone names it in "recover works on the <alone> alone".
	alone string
	// path returns the file's path in data_dir.
	path func(dataDir string) string
	// recover salvages the file at path and returns its report.
	recover func(path string) (fmt.Stringer, error)
}

// runRecover runs a recover command on t: it parses args, refuses while
// the agent of the configuration answers at its listen address or the
// file is missing, and prints t.recover's report.
func (m meta) runRecover(args []string, help string, t recoverTarget) int {
	fs := m.flags(t.command, help)
	path := fs.String("config", defaultConfigPath(), "")
	if code, ok := m.parse(fs, args); !ok {
		return code
	}
	cfg, ok := m.load(*path)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	_, p := probeAgent(ctx, cfg.Agent)
	switch {
	case p.err == nil && p.node == cfg.Agent.Node:
		fmt.Fprintf(m.stderr, "Error: the agent of node %q is running (it answers at %s): stop it first; recover works on the %s alone\n", p.node, p.addr, t.alone)
		return exitError
	case p.anon:
		// Perhaps this node's agent: refuse rather than salvage a file
		// in use.
		fmt.Fprintf(m.stderr, "Error: an agent answers at %s and may be node %q's (%v): stop it first; recover works on the %s alone\n", p.addr, cfg.Agent.Node, p.err, t.alone)
		return exitError
	}
	file := t.path(cfg.Agent.DataDir)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(m.stderr, "Error: there is no %s %s: nothing to recover (check data_dir in %s)\n", t.noun, file, *path)
		return exitError
	}
	rep, err := t.recover(file)
	if err != nil {
		fmt.Fprintf(m.stderr, "Error: %v\n", err)
		return exitError
	}
	fmt.Fprintln(m.stdout, rep.String())
	return exitOK
}
