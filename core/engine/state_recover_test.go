package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// scribbleFreelist overwrites the freelist page of the bbolt file at path
// with junk, damage bbolt refuses at open.
func scribbleFreelist(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	id, size := -1, db.Info().PageSize
	_ = db.View(func(tx *bolt.Tx) error {
		for i := 0; ; i++ {
			p, err := tx.Page(i)
			if err != nil || p == nil {
				return err
			}
			if p.Type == "freelist" {
				id = i
			}
		}
	})
	_ = db.Close()
	if id < 0 {
		t.Fatal("no freelist page")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\x42", 64)), int64(id*size)); err != nil {
		t.Fatal(err)
	}
}

// A damaged state.db stops the runner with the recover command; after `tocsin state recover`, a firing alert is not sent again.
// Moving the file aside by hand (what the error advised before) does not
// either, while the outbox keeps the hand-off marks; with both gone, it is
// sent again.
func TestEngine_StateRecoveredKeepsFiringAlert(t *testing.T) {
	dataDir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker+".log", []byte("log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	n := &recordingNotifier{}
	ctx := context.Background()
	cfg := engineConfig(t, dataDir, marker)
	start := func() *Runner {
		t.Helper()
		e, err := New(cfg, hclog.NewNullLogger(), n, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		e.runner.Start(ctx)
		if err := e.runner.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	stop := func(e *Runner) {
		e.runner.Stop()
		e.close()
	}
	e := start()
	e.Evaluate(ctx, e.cfg.Rules[0]) // fires
	stop(e)
	if got := n.subjects(); len(got) != 1 {
		t.Fatalf("first evaluation sent %q; want the alert", got)
	}

	path := filepath.Join(dataDir, StateFile)
	scribbleFreelist(t, path)
	// The agent names its configuration in the command (see
	// agent.TestAgent_DamagedStateNamesTheConfig).
	_, err := New(cfg, hclog.NewNullLogger(), n, Options{Now: now})
	if se := (*rules.StoreError)(nil); !errors.Is(err, rules.ErrStoreCorrupt) || !errors.As(err, &se) || !strings.Contains(err.Error(), "tocsin state recover") {
		t.Fatalf("start with a damaged state.db: %v; want the recover command", err)
	}
	damaged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	rep, err := rules.RecoverStore(path)
	if err != nil || len(rep.Firing) != 1 || rep.Firing[0] != "marker_missing" {
		t.Fatalf("RecoverStore = %+v, %v", rep, err)
	}
	clock = clock.Add(10 * time.Minute)
	e = start()
	e.Evaluate(ctx, e.cfg.Rules[0])
	stop(e)
	if got := n.subjects(); len(got) != 1 {
		t.Fatalf("after recover, the restart sent the alert again: %q", got)
	}

	// The same damage, moved aside by hand: the outbox's hand-off marks
	// still hold the firing alert, so it is not sent again.
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".corrupt"); err != nil {
		t.Fatal(err)
	}
	e = start()
	e.Evaluate(ctx, e.cfg.Rules[0])
	stop(e)
	if got := n.subjects(); len(got) != 1 {
		t.Fatalf("state.db moved aside, the outbox's marks kept: the alert was sent again: %q", got)
	}

	// Without the state and without the marks (a lost outbox too), the
	// alert goes out again: the test can tell the difference.
	if err := os.Rename(path, path+".corrupt2"); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.stock = nil
	n.mu.Unlock()
	e = start()
	e.Evaluate(ctx, e.cfg.Rules[0])
	stop(e)
	if got := n.subjects(); len(got) != 2 {
		t.Fatalf("without the state the alert was not sent again (%q): the test proves nothing", got)
	}
}
