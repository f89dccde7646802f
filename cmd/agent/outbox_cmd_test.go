package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The IDs of the entries seedOutboxFile stores.
const (
	pendingID = "20250102T030405Z.aaaaaaaaaaaaaaaa@node-a"
	retryID   = "20250102T030505Z.bbbbbbbbbbbbbbbb@node-a"
	deadID    = "20250102T030605Z.cccccccccccccccc@node-a"
)

var outboxT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// outboxConfig writes a config for node-a with its data_dir in a temporary
// directory and the given listen address; it returns the config's path and
// the outbox file's.
func outboxConfig(t *testing.T, listen string) (cfgPath, obPath string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	src := fmt.Sprintf(`agent {
  node     = "node-a"
  data_dir = %q
  listen   = %q
}
`, data, listen)
	cfgPath = filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, agent.OutboxPath(data)
}

// deadListen is a listen address where no agent answers.
func deadListen(t *testing.T) string { return freePort(t) }

// seedOutboxFile stores three entries in the outbox file at path: one
// pending and never tried, one pending after a temporary failure, one dead
// after a permanent failure on both transports.
func seedOutboxFile(t *testing.T, path string) {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Options{Now: func() time.Time { return outboxT0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ob.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	entry := func(id, rule string, at time.Time) *outbox.Entry {
		return &outbox.Entry{
			ID: id, Rule: rule, Event: "fire", Contact: "ops", Via: []string{"primary", "backup"},
			Mail: outbox.Mail{
				To:      []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}},
				Subject: "[node-a] " + rule, Text: "PLANTED-body-text",
			},
			EnqueuedAt: at, NextAttempt: at,
		}
	}
	pending := entry(pendingID, "disk_full", outboxT0)
	retried := entry(retryID, "load_high", outboxT0.Add(time.Minute))
	retried.Mail.Attachments = []sdk.Attachment{{Filename: "top.txt", Data: []byte("PLANTED-attachment")}}
	dead := entry(deadID, "peer_down", outboxT0.Add(2*time.Minute))
	ctx := context.Background()
	if err := ob.Enqueue(ctx, pending, retried, dead); err != nil {
		t.Fatal(err)
	}
	retried.Attempts, retried.TotalAttempts, retried.HopSince = 2, 2, outboxT0.Add(time.Minute)
	retried.NextAttempt = outboxT0.Add(5 * time.Minute)
	retried.Last = &outbox.Attempt{
		At: outboxT0.Add(3 * time.Minute), Transport: "primary", Kind: "temporary", Code: "451 4.3.0",
		Reply: "451 4.3.0 Try again later", Error: "temporary error 451 4.3.0: Try again later", Wait: 90 * time.Second,
	}
	dead.State, dead.Hop, dead.Attempts, dead.TotalAttempts = outbox.Dead, 2, 0, 3
	dead.Last = &outbox.Attempt{
		At: outboxT0.Add(4 * time.Minute), Transport: "backup", Kind: "permanent", Code: "535 5.7.8",
		Reply:  "535 5.7.8 Authentication unsuccessful\n535 5.7.8 the user's password expired",
		Remedy: "The server rejected the login: check the username and password of transport backup.",
		Error:  "permanent error 535 5.7.8: Authentication unsuccessful",
	}
	if err := ob.Save(ctx, retried, dead); err != nil {
		t.Fatal(err)
	}
}

// storedEntry reads id from the outbox file at path (nil when it is not
// there).
func storedEntry(t *testing.T, path, id string) *outbox.Entry {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	e, err := ob.Get(id)
	if errors.Is(err, outbox.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func wantOutput(t *testing.T, r cliResult, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range stdout {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range stderr {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "PLANTED") {
		t.Errorf("the output shows a message's content:\n%s%s", r.stdout, r.stderr)
	}
}

func TestOutboxList_file(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)

	r := runCLI(t, "outbox", "list", "-config", cfg)
	wantOutput(t, r, exitOK, nil, nil)
	golden(t, "outbox-list.txt", strings.ReplaceAll(r.stdout, cfg, "CONFIG"))

	r = runCLI(t, "outbox", "list", "-config", cfg, "-state", "dead")
	wantOutput(t, r, exitOK, []string{deadID, "Remedy: The server rejected the login"}, nil)
	if strings.Contains(r.stdout, pendingID) || strings.Contains(r.stdout, retryID) {
		t.Errorf("-state dead lists pending entries:\n%s", r.stdout)
	}

	r = runCLI(t, "outbox", "list", "-config", cfg, "-state", "pending", "-json")
	wantOutput(t, r, exitOK, nil, nil)
	var l outboxapi.List
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("-json: %v\n%s", err, r.stdout)
	}
	if len(l.Entries) != 2 || l.Entries[0].ID != pendingID || l.Entries[1].ID != retryID || l.Entries[1].Last.Wait != "1m30s" {
		t.Errorf("-json entries = %+v", l.Entries)
	}
}

// TestOutbox_hintsRunAsPrinted: every command the outbox commands print as
// a hint names the configuration they used, so that run as printed it
// works where the default configuration (/etc/tocsin) is another one.
func TestOutbox_hintsRunAsPrinted(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)
	t.Setenv("TOCSIN_CONFIG", filepath.Join(t.TempDir(), "not-this-one"))

	r := runCLI(t, "outbox", "list", "-config", cfg)
	wantOutput(t, r, exitOK, nil, nil)
	r2 := runCLI(t, "outbox", "show", "-config", cfg)
	wantOutput(t, r2, exitUsage, nil, nil)
	hints := regexp.MustCompile("`(tocsin [^`]*)`").FindAllStringSubmatch(r.stdout+r2.stderr, -1)
	if len(hints) < 3 {
		t.Fatalf("found %d hints, want the retry, drop and list ones:\n%s%s", len(hints), r.stdout, r2.stderr)
	}
	for _, h := range hints {
		args := strings.Fields(strings.ReplaceAll(h[1], "ID", deadID))[1:]
		if !slices.Contains(args, "-config") {
			t.Errorf("hint %q does not name the configuration", h[1])
			continue
		}
		if got := runCLI(t, args...); got.code != exitOK {
			t.Errorf("hint %q run as printed: exit %d\n%s", h[1], got.code, got.stderr)
		}
	}
}

func TestOutboxList_usage(t *testing.T) {
	cfg, _ := outboxConfig(t, deadListen(t))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "bad state", args: []string{"outbox", "list", "-config", cfg, "-state", "sent"}, code: exitUsage, want: "-state must be pending or dead"},
		{name: "stray argument", args: []string{"outbox", "list", "-config", cfg, "extra"}, code: exitUsage, want: "unexpected argument"},
		{name: "show without ID", args: []string{"outbox", "show", "-config", cfg}, code: exitUsage, want: "give the ID of an outbox entry"},
		{name: "retry with two IDs", args: []string{"outbox", "retry", "-config", cfg, "a", "b"}, code: exitUsage, want: "give one entry ID, not 2"},
		{name: "drop unknown flag", args: []string{"outbox", "drop", "-nope", "a"}, code: exitUsage, want: "Usage: tocsin outbox drop"},
		{name: "parent", args: []string{"outbox"}, code: exitUsage, want: "outbox recover"},
		{name: "help", args: []string{"outbox", "show", "-h"}, code: exitOK, want: "Usage: tocsin outbox show"},
		{name: "bad config", args: []string{"outbox", "list", "-config", filepath.Join(t.TempDir(), "missing.hcl")}, code: exitError, want: "missing.hcl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOutput(t, runCLI(t, tt.args...), tt.code, nil, []string{tt.want})
		})
	}
}

func TestOutboxShow_file(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)

	// The ID may come before the flags, as in the synopsis.
	r := runCLI(t, "outbox", "show", deadID, "-config", cfg)
	wantOutput(t, r, exitOK, nil, nil)
	golden(t, "outbox-show-dead.txt", r.stdout)

	r = runCLI(t, "outbox", "show", "-config", cfg, retryID)
	wantOutput(t, r, exitOK, []string{
		"Next attempt:    2025-01-02T03:09:05Z",
		"Attachments:     top.txt (18 bytes)",
		"Retry after:   1m30s",
		"Via:             primary, backup (trying primary, 1 of 2)",
	}, nil)

	r = runCLI(t, "outbox", "show", "-config", cfg, "-json", pendingID)
	var e outboxapi.Entry
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.ID != pendingID || e.Last != nil {
		t.Errorf("-json = %+v, %v\n%s", e, err, r.stdout)
	}

	r = runCLI(t, "outbox", "show", "-config", cfg, "nope@node-a")
	wantOutput(t, r, exitError, nil, []string{`get outbox entry "nope@node-a": no such outbox entry`})
}

func TestOutboxRetry_file(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)

	r := runCLI(t, "outbox", "retry", deadID, "-config", cfg)
	wantOutput(t, r, exitOK, []string{"Retrying " + deadID + " through primary", "the agent sends it when it starts", "in " + ob}, nil)
	e := storedEntry(t, ob, deadID)
	if e == nil || e.State != outbox.Pending || e.Hop != 0 || e.TotalAttempts != 3 || e.Last == nil {
		t.Errorf("after retry: %+v", e)
	}

	r = runCLI(t, "outbox", "retry", "nope@node-a", "-config", cfg)
	wantOutput(t, r, exitError, nil, []string{"no such outbox entry"})
}

func TestOutboxDrop_file(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)

	r := runCLI(t, "outbox", "drop", deadID, "-config", cfg)
	wantOutput(t, r, exitOK, []string{"Dropped " + deadID + " (dead, contact ops, subject \"[node-a] peer_down\")"}, nil)
	if e := storedEntry(t, ob, deadID); e != nil {
		t.Errorf("still stored after drop: %+v", e)
	}
	if e := storedEntry(t, ob, pendingID); e == nil {
		t.Errorf("drop took another entry with it")
	}

	r = runCLI(t, "outbox", "drop", deadID, "-config", cfg)
	wantOutput(t, r, exitError, nil, []string{"no such outbox entry"})
}

// TestOutbox_noFile: before the agent's first run there is no outbox file;
// the commands say so and create nothing.
func TestOutbox_noFile(t *testing.T) {
	cfg, ob := outboxConfig(t, deadListen(t))

	wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitOK, []string{"The outbox is empty."}, nil)
	wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg, "-state", "dead"), exitOK, []string{"The outbox holds no dead entries."}, nil)
	wantOutput(t, runCLI(t, "outbox", "show", "-config", cfg, deadID), exitError, nil, []string{"there is no outbox file " + ob})
	wantOutput(t, runCLI(t, "outbox", "recover", "-config", cfg), exitError, nil, []string{"there is no outbox file " + ob})
	if _, err := os.Stat(filepath.Dir(ob)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data_dir was created (%v): a command run as root would leave it to root", err)
	}
}

func TestOutboxRecover(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		if err := os.MkdirAll(filepath.Dir(ob), 0o700); err != nil {
			t.Fatal(err)
		}
		garbage := []byte(strings.Repeat("this is not a bbolt file\n", 1000))
		if err := os.WriteFile(ob, garbage, 0o600); err != nil {
			t.Fatal(err)
		}
		// The other commands refuse the file and name the recovery command.
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitError, nil, []string{"outbox damaged", "tocsin outbox recover -config " + cfg})

		r := runCLI(t, "outbox", "recover", "-config", cfg)
		wantOutput(t, r, exitOK, []string{"was damaged", "moved it to " + ob + ".corrupt-", "kept 0 entries"}, nil)
		moved, _ := filepath.Glob(ob + ".corrupt-*")
		if len(moved) != 1 {
			t.Fatalf("moved aside: %v", moved)
		}
		if b, err := os.ReadFile(moved[0]); err != nil || string(b) != string(garbage) {
			t.Errorf("the damaged file was not kept as it was (%v)", err)
		}
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitOK, []string{"The outbox is empty."}, nil)
	})
	t.Run("intact", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		seedOutboxFile(t, ob)
		wantOutput(t, runCLI(t, "outbox", "recover", "-config", cfg), exitOK, []string{"is intact: nothing to recover"}, nil)
		if storedEntry(t, ob, deadID) == nil {
			t.Error("recover of an intact file lost an entry")
		}
	})
}

// runningAgent stands in for the agent: it holds the outbox file open and
// serves the outbox API, as node, on 127.0.0.1. It returns the config
// pointing at it, the outbox and a count of the dispatcher's kicks.
func runningAgent(t *testing.T, node string) (cfg string, ob *outbox.Outbox, kicks *atomic.Int32) {
	t.Helper()
	// The config names the server's address, known once it listens.
	cfg, path := outboxConfig(t, "127.0.0.1:1")
	seedOutboxFile(t, path)
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	kicks = new(atomic.Int32)
	srv, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok", Node: node} },
		Routes: outboxapi.Routes(ob, outboxapi.KickFunc(func() { kicks.Add(1) })),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(src), "127.0.0.1:1", srv.Addr(), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, ob, kicks
}

// TestOutbox_throughAPI: while the agent holds the file, every command goes
// through its API, and recover refuses.
func TestOutbox_throughAPI(t *testing.T) {
	cfg, ob, kicks := runningAgent(t, "node-a")

	r := runCLI(t, "outbox", "list", "-config", cfg)
	wantOutput(t, r, exitOK, nil, nil)
	golden(t, "outbox-list.txt", strings.ReplaceAll(r.stdout, cfg, "CONFIG")) // the same as from the file

	r = runCLI(t, "outbox", "show", deadID, "-config", cfg)
	wantOutput(t, r, exitOK, nil, nil)
	golden(t, "outbox-show-dead.txt", r.stdout)

	wantOutput(t, runCLI(t, "outbox", "show", "nope@node-a", "-config", cfg), exitError, nil, []string{"no such outbox entry"})

	r = runCLI(t, "outbox", "retry", deadID, "-config", cfg)
	wantOutput(t, r, exitOK, []string{"Retrying " + deadID + " through primary", "the agent sends it now", "through the running agent at 127.0.0.1:"}, nil)
	if e, err := ob.Get(deadID); err != nil || e.State != outbox.Pending || kicks.Load() != 1 {
		t.Errorf("after retry: %+v, %v, kicks %d", e, err, kicks.Load())
	}

	wantOutput(t, runCLI(t, "outbox", "drop", pendingID, "-config", cfg), exitOK, []string{"Dropped " + pendingID}, nil)
	if _, err := ob.Get(pendingID); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("after drop: %v", err)
	}
	wantOutput(t, runCLI(t, "outbox", "drop", pendingID, "-config", cfg), exitError, nil, []string{"no such outbox entry"})

	wantOutput(t, runCLI(t, "outbox", "recover", "-config", cfg), exitError, nil, []string{`the agent of node "node-a" is running`, "stop it first"})
}

// TestOutbox_unreachable: the file is held and no agent of this node
// answers; the error says both.
func TestOutbox_unreachable(t *testing.T) {
	t.Run("nothing answers", func(t *testing.T) {
		cfg, path := outboxConfig(t, deadListen(t))
		seedOutboxFile(t, path)
		ob, err := outbox.Open(path, outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitError, nil,
			[]string{"cannot reach the outbox: the agent does not answer at 127.0.0.1:", "connection refused", "is in use by another process"})
	})
	t.Run("another node answers", func(t *testing.T) {
		cfg, _, _ := runningAgent(t, "node-b")
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitError, nil,
			[]string{`answers as node "node-b", not "node-a"`, "is in use by another process"})
	})
}

// TestOutbox_realAgent runs the commands against agent.Start: the agent
// serves the outbox API on its listen address.
func TestOutbox_realAgent(t *testing.T) {
	cfgPath, path := outboxConfig(t, freePort(t))
	seedOutboxFile(t, path)
	// Only the dead entry: the agent has no transport for the others.
	for _, id := range []string{pendingID, retryID} {
		wantOutput(t, runCLI(t, "outbox", "drop", id, "-config", cfgPath), exitOK, nil, nil)
	}
	cfg, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, diags := agent.Start(ctx, cfg, hclog.NewNullLogger())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})

	wantOutput(t, runCLI(t, "outbox", "list", "-config", cfgPath, "-state", "dead"), exitOK, []string{deadID, "Remedy: The server rejected the login"}, nil)
	wantOutput(t, runCLI(t, "outbox", "drop", deadID, "-config", cfgPath), exitOK, []string{"through the running agent at " + cfg.Agent.Listen}, nil)
	wantOutput(t, runCLI(t, "outbox", "list", "-config", cfgPath), exitOK, []string{"The outbox is empty."}, nil)
}

func TestAgentAddr(t *testing.T) {
	tests := []struct {
		listen, want string
	}{
		{listen: "127.0.0.1:9870", want: "127.0.0.1:9870"},
		{listen: "0.0.0.0:9870", want: "127.0.0.1:9870"},
		{listen: "[::]:9870", want: "[::1]:9870"},
		{listen: ":9870", want: "127.0.0.1:9870"},
		{listen: "192.0.2.10:9870", want: "192.0.2.10:9870"},
		{listen: "localhost:9870", want: "localhost:9870"},
	}
	for _, tt := range tests {
		if got, err := agentAddr(tt.listen); err != nil || got != tt.want {
			t.Errorf("agentAddr(%q) = %q, %v; want %q", tt.listen, got, err, tt.want)
		}
	}
	if _, err := agentAddr("no-port"); err == nil {
		t.Error("agentAddr(no-port) = nil error")
	}
}
