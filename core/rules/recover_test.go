package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// manyStates is a store's worth of states spanning many pages: rule_0000
// and every tenth rule firing.
func manyStates() map[string]State {
	many := make(map[string]State)
	for i := 0; i < 2000; i++ {
		st := State{Phase: Pending, ActiveSince: t0.Add(-time.Minute), LastEval: t0, Err: strings.Repeat("x", i%300)}
		if i%10 == 0 {
			st = State{Phase: Firing, ActiveSince: t0.Add(-time.Hour), FiredAt: t0.Add(-time.Hour), LastNotified: t0.Add(-time.Hour), LastEval: t0, Repeats: i % 7}
		}
		many[fmt.Sprintf("rule_%04d", i)] = st
	}
	return many
}

// writeStore writes states to a new store at path and closes it.
func writeStore(t *testing.T, path string, states map[string]State) {
	t.Helper()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMany(states); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// recoverAndOpen recovers path, checks the new file opens and returns the
// report and what it holds.
func recoverAndOpen(t *testing.T, path string) (StoreReport, map[string]State) {
	t.Helper()
	if _, err := OpenStore(path); !errors.Is(err, ErrStoreCorrupt) {
		t.Fatalf("OpenStore of the damaged file = %v; want ErrStoreCorrupt", err)
	}
	before, _ := os.ReadFile(path)
	rep, err := RecoverStore(path)
	if err != nil {
		t.Fatalf("RecoverStore: %v", err)
	}
	t.Logf("report:\n%s", rep)
	if rep.Intact || rep.MovedTo == "" {
		t.Fatalf("report %+v: want the file moved aside", rep)
	}
	if aside, _ := os.ReadFile(rep.MovedTo); string(aside) != string(before) {
		t.Error("the file moved aside is not the damaged one")
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatalf("OpenStore after RecoverStore: %v", err)
	}
	defer s.Close()
	got, err := s.LoadAll()
	if err != nil {
		t.Fatalf("LoadAll after RecoverStore: %v", err)
	}
	if len(got) != rep.Kept {
		t.Errorf("the new file holds %d states, the report says %d", len(got), rep.Kept)
	}
	return rep, got
}

func TestRecoverStore_Truncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	want := manyStates()
	writeStore(t, path, want)
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	rep, got := recoverAndOpen(t, path)
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("kept %d of %d states; want some, not all (half the file is gone)", len(got), len(want))
	}
	for name, g := range got {
		if !sameState(g, want[name]) {
			t.Errorf("state of %s = %+v, want %+v", name, g, want[name])
		}
	}
	if len(rep.Firing) == 0 || !strings.Contains(rep.String(), "firing, and not notified again: rule_") {
		t.Errorf("report names no firing rule:\n%s", rep)
	}
}

func TestRecoverStore_Garbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeFile(t, path, []byte(strings.Repeat("this is not a database\n", 1000)))
	rep, got := recoverAndOpen(t, path)
	if len(got) != 0 || rep.Kept != 0 || !strings.Contains(rep.String(), "no valid meta page") {
		t.Fatalf("garbage: kept %d, report:\n%s", len(got), rep)
	}
}

// The fixture with its meta pages zeroed: the scan finds the newest copy
// of every state, and, as it cannot tell free pages, the state of a rule
// deleted before (which the agent ignores); the report says so.
func TestRecoverStore_MetaPagesGone(t *testing.T) {
	path := stateFixture(t, 1)
	overwrite(t, path, 0, make([]byte, 2*os.Getpagesize()))
	rep, got := recoverAndOpen(t, path)
	want := fixtureStates()
	for name, w := range want {
		if g, ok := got[name]; !ok || !sameState(g, w) {
			t.Errorf("state of %q = %+v, %v; want %+v", name, g, ok, w)
		}
	}
	if _, ok := got["removed_rule"]; len(got) != len(want)+1 || !ok || !rep.MaybeStale || rep.Scanned != len(got) {
		t.Errorf("kept %d states (want %d and removed_rule), scanned %d, maybe stale %v", len(got), len(want), rep.Scanned, rep.MaybeStale)
	}
}

// A firing alert's state survives recovery: the rule, still holding,
// does not fire again.
func TestRecoverStore_FiringAlertNotRepeated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	want := manyStates()
	writeStore(t, path, want)
	overwrite(t, path, int64(freelistPage(t, path))*4096, []byte(strings.Repeat("\x42", 64)))
	rep, got := recoverAndOpen(t, path)
	if len(got) != len(want) {
		t.Fatalf("kept %d of %d states (only the freelist was damaged)", len(got), len(want))
	}
	if len(rep.Firing) != 200 {
		t.Errorf("report: %d firing, want 200", len(rep.Firing))
	}
	r := &Rule{Name: "rule_0000", Repeat: 24 * time.Hour}
	st, events := Step(r, got["rule_0000"], true, nil, t0.Add(time.Minute))
	if len(events) != 0 || st.Phase != Firing {
		t.Fatalf("after recovery, Step = %v, %v; want firing and no event (the alert was sent before)", st.Phase, events)
	}
	// Without the recovered state, the same step fires again: what moving
	// the file aside by hand did.
	if _, events := Step(r, State{}, true, nil, t0.Add(time.Minute)); len(events) == 0 {
		t.Fatal("a fresh state does not fire: the test proves nothing")
	}
}

func TestRecoverStore_NewerFormat(t *testing.T) {
	path := stateFixture(t, 1)
	setFormat(t, path, "9")
	if _, err := OpenStore(path); !errors.Is(err, ErrStoreNewer) {
		t.Fatalf("OpenStore = %v", err)
	}
	rep, err := RecoverStore(path)
	if err != nil || !strings.Contains(rep.Problem, "format 9; this binary reads up to 1") {
		t.Fatalf("RecoverStore = %+v, %v", rep, err)
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureStates(t, s)
}

func TestRecoverStore_IntactAndLocked(t *testing.T) {
	path := stateFixture(t, 1)
	before, _ := os.ReadFile(path)
	rep, err := RecoverStore(path)
	if err != nil || !rep.Intact || !strings.Contains(rep.String(), "intact") {
		t.Fatalf("RecoverStore of a sound file = %+v, %v", rep, err)
	}
	after, _ := os.ReadFile(path)
	if matches, _ := filepath.Glob(path + ".corrupt-*"); string(before) != string(after) || len(matches) != 0 {
		t.Fatal("RecoverStore touched a sound file")
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := RecoverStore(path); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("RecoverStore of a file in use = %v; want ErrStoreLocked", err)
	}
	if _, err := RecoverStore(filepath.Join(t.TempDir(), "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("RecoverStore of a missing file = %v", err)
	}
}
