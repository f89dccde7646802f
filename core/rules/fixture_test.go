package rules

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// The state files under testdata were written by earlier releases, one per
// format: testdata/state-v<N>.db. TestWriteStateFixture writes the file of
// the current format with the code as it is; it runs only when
// TOCSIN_WRITE_FIXTURES=1 and is run once per format, when the format
// changes, never to overwrite an older one. TestStateFixtures opens every
// committed file with today's code: every rule state must survive.

// fixtureEnv asks TestWriteStateFixture to write the current format's file.
const fixtureEnv = "TOCSIN_WRITE_FIXTURES"

// fixtureT0 is the fixtures' clock.
var fixtureT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// fixtureStates are the rule states of the v1 fixture: a rule in each
// phase, one that fired and resolved, one firing with repeats and one
// whose evaluation fails.
func fixtureStates() map[string]State {
	at := func(min int) time.Time { return fixtureT0.Add(time.Duration(min) * time.Minute) }
	return map[string]State{
		"never_evaluated": {},
		"inactive":        {Phase: Inactive, LastEval: at(60)},
		"resolved": {
			Phase: Inactive, FiredAt: at(10), LastNotified: at(10), ResolvedAt: at(40), LastEval: at(60),
		},
		"pending": {Phase: Pending, ActiveSince: at(55), LastEval: at(60)},
		"firing": {
			Phase: Firing, ActiveSince: at(0), FiredAt: at(5), LastNotified: at(5), LastEval: at(60),
		},
		"firing_repeats": {
			Phase: Firing, ActiveSince: at(-200), FiredAt: at(-190), LastNotified: at(50), LastEval: at(60), Repeats: 4,
		},
		"error": {
			Phase: Firing, ActiveSince: at(0), FiredAt: at(1), LastNotified: at(1), LastEval: at(60),
			Err: `rule "error": when: rules.hcl:3:12: Unsupported attribute; This object does not have an attribute named "free".`,
		},
		"name with spaces/and ünïcode": {Phase: Pending, ActiveSince: at(59), LastEval: at(60)},
	}
}

// stateFixtureName is the file name of format v's fixture.
func stateFixtureName(v int) string { return "state-v" + strconv.Itoa(v) + ".db" }

// TestWriteStateFixture writes testdata/state-v<N>.db with the current
// code. Run it once for a new format:
//
//	TOCSIN_WRITE_FIXTURES=1 go test -run TestWriteStateFixture ./core/rules/
func TestWriteStateFixture(t *testing.T) {
	if os.Getenv(fixtureEnv) != "1" {
		t.Skip("set " + fixtureEnv + "=1 to write the fixture of the current format")
	}
	dst := filepath.Join("testdata", stateFixtureName(storeFormat))
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture of a released format is never rewritten", dst)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	// As in use: states saved one by one, some overwritten, one deleted.
	for name, st := range fixtureStates() {
		first := st
		first.LastEval = fixtureT0
		if err := s.Save(name, first); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save("removed_rule", State{Phase: Firing, FiredAt: fixtureT0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMany(fixtureStates()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("removed_rule"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, dst)
	t.Logf("wrote %s", dst)
}

// copyFile copies src to dst (mode 0600).
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// stateFixture copies the fixture of format v to a temporary directory
// and returns the copy's path.
func stateFixture(t *testing.T, v int) string {
	t.Helper()
	src := filepath.Join("testdata", stateFixtureName(v))
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the fixture of format %d is missing (TOCSIN_WRITE_FIXTURES=1 go test -run TestWriteStateFixture writes the current one): %v", v, err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	copyFile(t, src, path)
	return path
}

// checkFixtureStates checks that s holds exactly fixtureStates.
func checkFixtureStates(t *testing.T, s *Store) {
	t.Helper()
	got, err := s.LoadAll()
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	want := fixtureStates()
	if len(got) != len(want) {
		t.Errorf("LoadAll = %d states, want %d: %v", len(got), len(want), got)
	}
	norm := func(st State) State {
		for _, p := range []*time.Time{&st.ActiveSince, &st.FiredAt, &st.LastNotified, &st.ResolvedAt, &st.LastEval} {
			*p = p.UTC()
		}
		return st
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("state of %q is missing", name)
			continue
		}
		if !reflect.DeepEqual(norm(g), norm(w)) {
			t.Errorf("state of %q:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

// TestStateFixtures opens the state files of every earlier format with
// today's code: every rule state survives, the file is migrated to the
// current format, and a reopen reads it again.
func TestStateFixtures(t *testing.T) {
	for v := 1; v <= storeFormat; v++ {
		t.Run("v"+strconv.Itoa(v), func(t *testing.T) {
			path := stateFixture(t, v)
			s, err := OpenStore(path)
			if err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			checkFixtureStates(t, s)
			if got, err := s.format(); err != nil || got != storeFormat {
				t.Errorf("format after OpenStore = %d, %v; want %d", got, err, storeFormat)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = OpenStore(path)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			checkFixtureStates(t, s)
		})
	}
}
