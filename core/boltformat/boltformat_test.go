package boltformat

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openDB opens a new bbolt file for a test.
func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "test.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// version returns the version f reads in db.
func version(t *testing.T, db *bolt.DB, f Format) int {
	t.Helper()
	var v int
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = f.Version(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrate(t *testing.T) {
	var ran []int
	step := func(v int) func(*bolt.Tx) error {
		return func(*bolt.Tx) error { ran = append(ran, v); return nil }
	}
	steps := map[int]func(*bolt.Tx) error{1: step(1), 2: step(2)}
	for _, tc := range []struct {
		name    string
		missing int
		want    []int // the steps run on a file that records no version
	}{
		{"a new file gets the version at once", 0, nil},
		{"an old file without a version is migrated", 1, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran = nil
			db := openDB(t)
			f := Format{Bucket: []byte("meta"), Key: []byte("format"), Missing: tc.missing, Steps: steps}
			if v := version(t, db, f); v != tc.missing {
				t.Fatalf("the version of a file without one: %d, want %d", v, tc.missing)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return f.Migrate(tx, 3) }); err != nil {
				t.Fatal(err)
			}
			if v := version(t, db, f); v != 3 || len(ran) != len(tc.want) {
				t.Fatalf("version %d after steps %v; want 3 after %v", v, ran, tc.want)
			}
			// Again: nothing to do.
			ran = nil
			if err := db.Update(func(tx *bolt.Tx) error { return f.Migrate(tx, 3) }); err != nil || len(ran) != 0 {
				t.Fatalf("a second Migrate: %v, steps %v", err, ran)
			}
			// A step that is missing, and a newer file.
			err := db.Update(func(tx *bolt.Tx) error { return f.Migrate(tx, 5) })
			if err == nil || !strings.Contains(err.Error(), "no migration from format 3 to 4") {
				t.Fatalf("a missing step: %v", err)
			}
			err = db.Update(func(tx *bolt.Tx) error { return f.Migrate(tx, 2) })
			var n *NewerError
			if !errors.As(err, &n) || n.Version != 3 || n.To != 2 || err.Error() != "format 3 is newer than 2" {
				t.Fatalf("a newer file: %v", err)
			}
			if v := version(t, db, f); v != 3 {
				t.Fatalf("the newer file was changed to version %d", v)
			}
		})
	}
}

func TestMigrate_StepFails(t *testing.T) {
	db := openDB(t)
	boom := errors.New("boom")
	f := Format{Bucket: []byte("meta"), Key: []byte("format"), Missing: 1, Steps: map[int]func(*bolt.Tx) error{
		1: func(*bolt.Tx) error { return boom },
	}}
	err := db.Update(func(tx *bolt.Tx) error { return f.Migrate(tx, 2) })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "migrate from format 1 to 2") {
		t.Fatalf("Migrate: %v", err)
	}
	if v := version(t, db, f); v != 1 {
		t.Fatalf("version %d after a failed step", v)
	}
}

func TestVersion_Invalid(t *testing.T) {
	f := Format{Bucket: []byte("meta"), Key: []byte("format")}
	for _, raw := range []string{"x", "0", "-1", ""} {
		db := openDB(t)
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(f.Bucket)
			if err != nil {
				return err
			}
			return b.Put(f.Key, []byte(raw))
		}); err != nil {
			t.Fatal(err)
		}
		err := db.View(func(tx *bolt.Tx) error { _, err := f.Version(tx); return err })
		if err == nil || !strings.Contains(err.Error(), "is not valid") {
			t.Fatalf("version %q: %v", raw, err)
		}
	}
}
