package rules

import (
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// setFormat writes v as the format version of the closed store at path.
func setFormat(t *testing.T, path, v string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		return b.Put(formatKey, []byte(v))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStore_NewFileRecordsFormat(t *testing.T) {
	s, _ := openTestStore(t)
	if v, err := s.format(); err != nil || v != storeFormat {
		t.Fatalf("format = %d, %v; want %d", v, err, storeFormat)
	}
	var raw []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		raw = append(raw, tx.Bucket(metaBucket).Get(formatKey)...)
		return nil
	})
	if string(raw) != "1" {
		t.Fatalf("meta/format = %q, want \"1\"", raw)
	}
}

func TestStore_NewerFormatRefused(t *testing.T) {
	path := stateFixture(t, 1)
	setFormat(t, path, "7")
	_, err := OpenStore(path)
	if !errors.Is(err, ErrStoreNewer) || errors.Is(err, ErrStoreCorrupt) {
		t.Fatalf("OpenStore = %v; want ErrStoreNewer", err)
	}
	var se *StoreError
	if !errors.As(err, &se) {
		t.Fatalf("%T is not a *StoreError", err)
	}
	se.ConfigPath = "/etc/tocsin/agent.hcl"
	for _, w := range []string{path, "written by a newer Tocsin (format 7; this binary reads up to 1)",
		"install that version or newer", "tocsin state recover -config /etc/tocsin/agent.hcl"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// The file was not touched: its states are still there for the newer
	// release.
	setFormat(t, path, "1")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureStates(t, s)
}

func TestStore_BadFormatIsCorrupt(t *testing.T) {
	path := stateFixture(t, 1)
	setFormat(t, path, "one")
	if _, err := OpenStore(path); !errors.Is(err, ErrStoreCorrupt) || !strings.Contains(err.Error(), `format version "one"`) {
		t.Fatalf("OpenStore = %v; want ErrStoreCorrupt naming the version", err)
	}
}

// A future format's migration runs once, in order, and the version is
// recorded; a file without a version is format 1.
func TestStore_Migrate(t *testing.T) {
	path := stateFixture(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ran []int
	steps := map[int]func(*bolt.Tx) error{
		1: func(tx *bolt.Tx) error { ran = append(ran, 1); return nil },
		2: func(tx *bolt.Tx) error {
			ran = append(ran, 2)
			_, err := tx.CreateBucket([]byte("idempotency"))
			return err
		},
	}
	for range 2 {
		if err := db.Update(func(tx *bolt.Tx) error { return migrate(tx, 3, steps) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 {
		t.Fatalf("steps ran %v; want [1 2] once", ran)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if v, err := fileFormat(tx); v != 3 || err != nil {
			t.Errorf("format = %d, %v; want 3", v, err)
		}
		if tx.Bucket([]byte("idempotency")) == nil {
			t.Error("step 2 did not run in the transaction")
		}
		return nil
	})
	// A missing step and a newer file are errors, and change nothing.
	err = db.Update(func(tx *bolt.Tx) error { return migrate(tx, 5, steps) })
	if err == nil || !strings.Contains(err.Error(), "no migration from format 3 to 4") {
		t.Fatalf("missing step: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return migrate(tx, 2, steps) })
	if nf := (*newerFormat)(nil); !errors.As(err, &nf) || nf.version != 3 {
		t.Fatalf("newer file: %v", err)
	}
}
