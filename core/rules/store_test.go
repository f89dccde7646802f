package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTestStore opens a store in a temporary directory.
func openTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// sampleState is a firing state with every field set.
func sampleState() State {
	return State{
		Phase:         Firing,
		ActiveSince:   t0.Add(-time.Hour),
		FiredAt:       t0.Add(-50 * time.Minute),
		LastNotified:  t0.Add(-10 * time.Minute),
		ResolvedAt:    time.Time{},
		LastEval:      t0,
		Repeats:       3,
		Err:           `rule "x": when: rules.hcl:1:1: boom`,
		Seq:           12,
		Changes:       []time.Time{t0.Add(-40 * time.Minute), t0.Add(-20 * time.Minute)},
		FlappingSince: t0.Add(-20 * time.Minute),
	}
}

// sameState compares states by instant, not by time.Location.
func sameState(a, b State) bool {
	return a.Phase == b.Phase && a.ActiveSince.Equal(b.ActiveSince) && a.FiredAt.Equal(b.FiredAt) &&
		a.LastNotified.Equal(b.LastNotified) && a.ResolvedAt.Equal(b.ResolvedAt) &&
		a.LastEval.Equal(b.LastEval) && a.Repeats == b.Repeats && a.Err == b.Err && a.Seq == b.Seq &&
		a.FlappingSince.Equal(b.FlappingSince) && slices.EqualFunc(a.Changes, b.Changes, time.Time.Equal)
}

func TestStore_RoundTrip(t *testing.T) {
	s, path := openTestStore(t)
	if _, ok, err := s.Load("absent"); ok || err != nil {
		t.Fatalf("Load(absent) = %v, %v", ok, err)
	}
	want := sampleState()
	if err := s.Save("version_mismatch", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Load("version_mismatch")
	if err != nil || !ok || !sameState(got, want) {
		t.Fatalf("Load = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if err := s.SaveMany(map[string]State{
		"a": {Phase: Pending, ActiveSince: t0},
		"b": {},
	}); err != nil {
		t.Fatal(err)
	}
	all, err := s.LoadAll()
	if err != nil || len(all) != 3 || all["a"].Phase != Pending || all["b"].Phase != Inactive {
		t.Fatalf("LoadAll = %+v, %v", all, err)
	}
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("never-there"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Load("a"); ok {
		t.Fatal("a survived Delete")
	}
	if err := s.Save("bad", State{Phase: 9}); err == nil {
		t.Fatal("Save of an invalid phase: want an error")
	}
	if err := s.SaveMany(map[string]State{"": {}}); err == nil {
		t.Fatal("SaveMany with an empty name: want an error")
	}

	// Reopen: everything survives.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, ok, err = s2.Load("version_mismatch")
	if err != nil || !ok || !sameState(got, want) {
		t.Fatalf("after reopen: Load = %+v, %v, %v", got, ok, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestStore_RecordEncoding(t *testing.T) {
	b, err := encodeState(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"v":1`, `"phase":"firing"`, `"repeats":3`, `"seq":12`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("record %s lacks %s", b, w)
		}
	}
	if strings.Contains(string(b), "resolved_at") {
		t.Errorf("record %s has a zero resolved_at", b)
	}
	// A record written before Seq existed decodes with Seq 0.
	old, err := DecodeState([]byte(`{"v":1,"phase":"firing","fired_at":"2026-11-23T10:00:00Z"}`))
	if err != nil || old.Seq != 0 || old.Phase != Firing {
		t.Errorf("old record: %+v, %v; want firing with Seq 0", old, err)
	}
	rt, err := DecodeState(b)
	if err != nil || !sameState(rt, sampleState()) {
		t.Errorf("EncodeState/DecodeState round trip: %+v, %v", rt, err)
	}
	for _, tt := range []struct{ rec, want string }{
		{`{"v":2,"phase":"firing"}`, "newer"},
		{`{"phase":"firing"}`, "no version"},
		{`{"v":1,"phase":"exploding"}`, "unknown phase"},
		{`not json`, "decode"},
	} {
		if _, err := decodeState([]byte(tt.rec)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decode %s: %v, want %q", tt.rec, err, tt.want)
		}
	}
}

func TestStore_BadRecord(t *testing.T) {
	s, _ := openTestStore(t)
	if err := s.Save("good", sampleState()); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(stateBucket).Put([]byte("bad"), []byte(`{"v":99}`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load("bad"); err == nil || ok || !strings.Contains(err.Error(), `rule "bad"`) {
		t.Fatalf("Load(bad) = %v, %v", ok, err)
	}
	all, err := s.LoadAll()
	if err == nil || !strings.Contains(err.Error(), `rule "bad"`) {
		t.Fatalf("LoadAll error = %v", err)
	}
	if _, ok := all["good"]; !ok || len(all) != 1 {
		t.Fatalf("LoadAll kept %v", all)
	}
}

func TestStore_CorruptFileRefused(t *testing.T) {
	// A store with enough records to span many pages.
	build := func(t *testing.T) (string, int64) {
		path := filepath.Join(t.TempDir(), "rules.db")
		s, err := OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		many := make(map[string]State)
		for i := 0; i < 2000; i++ {
			st := sampleState()
			st.Err = strings.Repeat("x", i%300)
			many[fmt.Sprintf("rule_%04d", i)] = st
		}
		if err := s.SaveMany(many); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return path, st.Size()
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"garbage", func(t *testing.T, path string, _ int64) {
			writeFile(t, path, []byte(strings.Repeat("this is not a database\n", 1000)))
		}},
		{"short garbage", func(t *testing.T, path string, _ int64) {
			writeFile(t, path, []byte("x"))
		}},
		{"truncated to half", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to three pages", func(t *testing.T, path string, _ int64) {
			if err := os.Truncate(path, 3*4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta pages zeroed", func(t *testing.T, path string, _ int64) {
			overwrite(t, path, 0, make([]byte, 2*4096))
		}},
		{"freelist page scribbled", func(t *testing.T, path string, _ int64) {
			overwrite(t, path, int64(freelistPage(t, path))*4096, []byte(strings.Repeat("\x42", 64)))
		}},
		{"data pages scribbled", func(t *testing.T, path string, size int64) {
			junk := []byte(strings.Repeat("\xff\x13\x37", int(size/3)))
			overwrite(t, path, 2*4096, junk[:size-2*4096])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, size := build(t)
			tt.damage(t, path, size)
			before, _ := os.ReadFile(path)
			s, err := OpenStore(path)
			if err == nil {
				// Damage that bbolt cannot see at open must at least not
				// panic and not lose the file silently.
				_, lerr := s.LoadAll()
				_ = s.Close()
				t.Fatalf("OpenStore accepted a damaged file (LoadAll: %v)", lerr)
			}
			if !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("error %v does not wrap ErrStoreCorrupt", err)
			}
			for _, w := range []string{path, "corrupt", "tocsin state recover -config", "keeps every rule state"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Error("OpenStore modified the damaged file")
			}
			// The lock was released: another attempt fails the same way,
			// not with a lock timeout.
			if _, err := OpenStore(path); !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("second attempt: %v", err)
			}
		})
	}
}

func TestStore_EmptyFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.db")
	writeFile(t, path, nil)
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if all, err := s.LoadAll(); err != nil || len(all) != 0 {
		t.Fatalf("LoadAll = %v, %v", all, err)
	}
}

func TestStore_SecondOpenerGetsLockError(t *testing.T) {
	s, path := openTestStore(t)
	_ = s
	start := time.Now()
	s2, err := OpenStore(path)
	if err == nil {
		s2.Close()
		t.Fatal("second OpenStore succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("second OpenStore took %v", took)
	}
	if !errors.Is(err, ErrStoreLocked) || !strings.Contains(err.Error(), "in use by another tocsin process") {
		t.Fatalf("error %v", err)
	}
}

func TestStore_OpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenStore(filepath.Join(dir, "missing", "rules.db")); err == nil || !strings.Contains(err.Error(), "open rule state") {
		t.Fatalf("missing directory: %v", err)
	}
	if _, err := OpenStore(dir); err == nil {
		t.Fatal("a directory: want an error")
	}
}

// freelistPage returns the id of the live freelist page of the database at
// path.
func freelistPage(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := -1
	_ = db.View(func(tx *bolt.Tx) error {
		for i := 0; ; i++ {
			p, err := tx.Page(i)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				return nil
			}
			if p.Type == "freelist" {
				id = i
			}
		}
	})
	if id < 0 {
		t.Fatal("no freelist page")
	}
	if db.Info().PageSize != 4096 {
		t.Skipf("page size %d", db.Info().PageSize)
	}
	return id
}

// writeFile writes b to path or fails the test.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// overwrite writes b at offset off of path or fails the test.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
