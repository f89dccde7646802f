package agent

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

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// loadSource loads src as the configuration file a.hcl of a new
// directory.
func loadSource(t *testing.T, src string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// nopEnqueuer takes every hand-off and keeps nothing.
type nopEnqueuer struct{}

func (nopEnqueuer) Enqueue(context.Context, []outbox.Mark, []*outbox.Entry) error { return nil }
func (nopEnqueuer) Marks() (map[string]outbox.Mark, error)                        { return nil, nil }

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

// TestAgent_DamagedStateNamesTheConfig: a damaged state.db stops the
// agent with the recover command, -config included (the runner alone
// cannot name the configuration; see engine's
// TestEngine_StateRecoveredKeepsFiringAlert for the rest of the story).
func TestAgent_DamagedStateNamesTheConfig(t *testing.T) {
	dataDir := t.TempDir()
	cfg := loadSource(t, `
agent {
  node     = "node-1"
  data_dir = "`+dataDir+`"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "a@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
rule "always" {
  when    = true
  notify  = [contact.ops]
  subject = "x"
}
`)
	path := filepath.Join(dataDir, engine.StateFile)
	store, err := rules.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SaveMany(map[string]rules.State{"always": {Phase: rules.Firing}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	scribbleFreelist(t, path)
	a := &Agent{logger: hclog.NewNullLogger(), now: func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }}
	_, err = a.newEngine(context.Background(), cfg)
	if !errors.Is(err, rules.ErrStoreCorrupt) || !strings.Contains(err.Error(), "tocsin state recover -config "+cfg.Files[0]) {
		t.Fatalf("start with a damaged state.db: %v; want the recover command with -config", err)
	}
}
