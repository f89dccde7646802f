package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// stateFile returns the state.db beside the outbox ob of outboxConfig.
func stateFile(ob string) string { return filepath.Join(filepath.Dir(ob), engine.StateFile) }

// seedStateFile stores n rule states at path, rule_0000 and every tenth
// one firing.
func seedStateFile(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := rules.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	states := map[string]rules.State{}
	for i := 0; i < n; i++ {
		st := rules.State{Phase: rules.Inactive, LastEval: t0, Err: strings.Repeat("e", i%200)}
		if i%10 == 0 {
			st = rules.State{Phase: rules.Firing, ActiveSince: t0, FiredAt: t0, LastNotified: t0, LastEval: t0}
		}
		states[fmt.Sprintf("rule_%04d", i)] = st
	}
	if err := s.SaveMany(states); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// loadStates reads the state file at path.
func loadStates(t *testing.T, path string) map[string]rules.State {
	t.Helper()
	s, err := rules.OpenStore(path)
	if err != nil {
		t.Fatalf("open the recovered file: %v", err)
	}
	defer s.Close()
	all, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestStateRecover(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		path := stateFile(ob)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		garbage := []byte(strings.Repeat("this is not a bbolt file\n", 1000))
		if err := os.WriteFile(path, garbage, 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "state", "recover", "-config", cfg)
		wantOutput(t, r, exitOK, []string{"rule state " + path + " was damaged", "moved it to " + path + ".corrupt-", "kept the states of 0 rules"}, nil)
		moved, _ := filepath.Glob(path + ".corrupt-*")
		if len(moved) != 1 {
			t.Fatalf("moved aside: %v", moved)
		}
		if b, err := os.ReadFile(moved[0]); err != nil || string(b) != string(garbage) {
			t.Errorf("the damaged file was not kept as it was (%v)", err)
		}
		if all := loadStates(t, path); len(all) != 0 {
			t.Errorf("the new file holds %v", all)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		path := stateFile(ob)
		seedStateFile(t, path, 2000)
		st, _ := os.Stat(path)
		if err := os.Truncate(path, st.Size()/2); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "state", "recover", "-config", cfg)
		wantOutput(t, r, exitOK, []string{"was damaged", "firing, and not notified again: rule_0000"}, nil)
		all := loadStates(t, path)
		if len(all) == 0 || len(all) >= 2000 {
			t.Fatalf("kept %d of 2000 states; want some, not all", len(all))
		}
		if s, ok := all["rule_0000"]; !ok || s.Phase != rules.Firing {
			t.Errorf("rule_0000 = %+v, %v; want firing", s, ok)
		}
		if !strings.Contains(r.stdout, fmt.Sprintf("kept the states of %d rules", len(all))) {
			t.Errorf("the report does not say %d were kept:\n%s", len(all), r.stdout)
		}
	})
	t.Run("intact", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		path := stateFile(ob)
		seedStateFile(t, path, 20)
		wantOutput(t, runCLI(t, "state", "recover", "-config", cfg), exitOK, []string{"is intact: nothing to recover"}, nil)
		if all := loadStates(t, path); len(all) != 20 {
			t.Errorf("recover of an intact file kept %d of 20", len(all))
		}
	})
	t.Run("no file", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		wantOutput(t, runCLI(t, "state", "recover", "-config", cfg), exitError, nil, []string{"there is no rule state file " + stateFile(ob)})
	})
	t.Run("held by the agent", func(t *testing.T) {
		cfg, ob := outboxConfig(t, deadListen(t))
		path := stateFile(ob)
		seedStateFile(t, path, 20)
		s, err := rules.OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wantOutput(t, runCLI(t, "state", "recover", "-config", cfg), exitError, nil, []string{"in use by another tocsin process"})
	})
	t.Run("agent answers", func(t *testing.T) {
		cfg, _, _ := runningAgent(t, "node-a")
		wantOutput(t, runCLI(t, "state", "recover", "-config", cfg), exitError, nil, []string{`the agent of node "node-a" is running`, "stop it first"})
	})
	t.Run("parent", func(t *testing.T) {
		wantOutput(t, runCLI(t, "state"), exitUsage, nil, []string{"state recover"})
	})
}
