package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
)

// outboxStore is where the outbox commands find the outbox: the running
// agent's API, or the file.
type outboxStore interface {
	list(ctx context.Context, state string) ([]outboxapi.Entry, error)
	get(ctx context.Context, id string) (outboxapi.Entry, error)
	retry(ctx context.Context, id string) (outboxapi.Entry, error)
	drop(ctx context.Context, id string) error
	// running reports whether the agent runs (the store is its API).
	running() bool
	// where says where the outbox was reached, for the operator.
	where() string
	close() error
}

// openOutboxStore finds the outbox of the agent configured by cfg (loaded
// from configPath): through the API when the agent answers at its listen
// address as the configured node, else in its file. When the agent does
// not answer and another process holds the file, or this process may not
// open it, the error says both.
//
// A note goes to warn when an agent of another node answers at the
// listen address.
func openOutboxStore(ctx context.Context, cfg *config.Config, configPath string, warn io.Writer) (outboxStore, error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	client, p := probeAgent(pctx, cfg.Agent)
	cancel()
	if p.err == nil && p.node == cfg.Agent.Node {
		return newAPIStore(client), nil
	}
	file := agent.OutboxPath(cfg.Agent.DataDir)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		// Not created here: a command run as root would leave a file the
		// agent's user cannot open.
		return &fileStore{path: file}, nil
	}
	ob, err := outbox.Open(file, outbox.Options{ConfigPath: configPath})
	if err == nil && p.err == nil {
		fmt.Fprintf(warn, "Note: %s answers as node %q, not %q; this command works on %s instead.\n", p.addr, p.node, cfg.Agent.Node, file)
	}
	if errors.Is(err, outbox.ErrLocked) || errors.Is(err, fs.ErrPermission) {
		why := fmt.Sprintf("the agent does not answer at %s (%v)", p.addr, p.err)
		switch {
		case client == nil:
			why = fmt.Sprintf("cannot ask the agent at %s (%v)", p.addr, p.err)
		case p.err == nil:
			why = fmt.Sprintf("%s answers as node %q, not %q (the agent of another configuration)", p.addr, p.node, cfg.Agent.Node)
		case p.anon:
			why = fmt.Sprintf("an agent answers at %s but does not say which node it is (%v)", p.addr, p.err)
		}
		return nil, fmt.Errorf("cannot reach the outbox: %s, and %w", why, err)
	}
	if err != nil {
		return nil, err
	}
	return &fileStore{path: file, ob: ob}, nil
}

// apiStore is the outbox of the running agent, through its API.
type apiStore struct {
	client *agentClient
	api    *outboxapi.Client
}

// newAPIStore returns the outbox of the agent that client reaches.
func newAPIStore(client *agentClient) *apiStore {
	return &apiStore{client: client, api: outboxapi.NewClient(client.base, client)}
}

func (s *apiStore) list(ctx context.Context, state string) ([]outboxapi.Entry, error) {
	l, err := s.api.List(ctx, outbox.State(state))
	return l, s.client.explain(err)
}

func (s *apiStore) get(ctx context.Context, id string) (outboxapi.Entry, error) {
	e, err := s.api.Get(ctx, id)
	return e, s.client.explain(err)
}

func (s *apiStore) retry(ctx context.Context, id string) (outboxapi.Entry, error) {
	e, err := s.api.Retry(ctx, id)
	return e, s.client.explain(err)
}

func (s *apiStore) drop(ctx context.Context, id string) error {
	return s.client.explain(s.api.Drop(ctx, id))
}

func (s *apiStore) running() bool { return true }
func (s *apiStore) where() string { return "through the running agent at " + s.client.addr }
func (s *apiStore) close() error  { return nil }

// fileStore is the outbox file of a stopped agent; ob is nil when there is
// no file (the agent never ran with this data_dir).
type fileStore struct {
	path string
	ob   *outbox.Outbox
}

func (s *fileStore) list(_ context.Context, state string) ([]outboxapi.Entry, error) {
	if s.ob == nil {
		return nil, nil
	}
	entries, err := s.ob.List(outbox.State(state))
	if err != nil {
		return nil, err
	}
	return outboxapi.NewEntries(entries), nil
}

func (s *fileStore) get(_ context.Context, id string) (outboxapi.Entry, error) {
	if s.ob == nil {
		return outboxapi.Entry{}, s.missing(id)
	}
	e, err := s.ob.Get(id)
	if err != nil {
		return outboxapi.Entry{}, err
	}
	return outboxapi.NewEntry(e), nil
}

func (s *fileStore) retry(ctx context.Context, id string) (outboxapi.Entry, error) {
	if s.ob == nil {
		return outboxapi.Entry{}, s.missing(id)
	}
	if err := s.ob.Retry(ctx, id); err != nil {
		return outboxapi.Entry{}, err
	}
	return s.get(ctx, id)
}

func (s *fileStore) drop(ctx context.Context, id string) error {
	if s.ob == nil {
		return s.missing(id)
	}
	return s.ob.Drop(ctx, id)
}

func (s *fileStore) missing(id string) error {
	return fmt.Errorf("get outbox entry %q: %w: there is no outbox file %s (the agent has not run with this data_dir)", id, outbox.ErrNotFound, s.path)
}

func (s *fileStore) running() bool { return false }
func (s *fileStore) where() string { return "in " + s.path + "; the agent is not running" }

func (s *fileStore) close() error {
	if s.ob == nil {
		return nil
	}
	return s.ob.Close()
}
