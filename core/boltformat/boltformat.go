// Package boltformat keeps the version of a bbolt file's layout in the
// file, and migrates a file of an older version forward, one step at a
// time, inside the caller's transaction. It knows nothing of what the
// versions mean: the caller names the bucket and key of the version, the
// version of a file that records none, and the steps.
package boltformat

import (
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Format is where a kind of file records its version, and how to bring
// an older one up to date.
type Format struct {
	// Bucket and Key hold the version, in decimal.
	Bucket, Key []byte
	// Missing is the version of a file that records none: 0 for a file
	// that is new (it gets the current version at once, without steps),
	// or the version of files written before the version was recorded.
	Missing int
	// Steps[v] turns a file of version v into version v+1.
	Steps map[int]func(tx *bolt.Tx) error
}

// NewerError is Migrate's error for a file of a version above the one
// asked for: written by a newer release, which this one cannot read.
type NewerError struct{ Version, To int }

// Error implements error.
func (e *NewerError) Error() string {
	return fmt.Sprintf("format %d is newer than %d", e.Version, e.To)
}

// Version returns the version tx records, f.Missing when it records none.
func (f Format) Version(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(f.Bucket)
	if b == nil {
		return f.Missing, nil
	}
	raw := b.Get(f.Key)
	if raw == nil {
		return f.Missing, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("the format version %q is not valid", raw)
	}
	return v, nil
}

// Migrate brings the file of tx from its version to version to, one step
// of f.Steps at a time, and records to. A file of a higher version is
// refused with a *NewerError and left as it is.
func (f Format) Migrate(tx *bolt.Tx, to int) error {
	v, err := f.Version(tx)
	if err != nil {
		return err
	}
	if v > to {
		return &NewerError{Version: v, To: to}
	}
	for ; v > 0 && v < to; v++ {
		step := f.Steps[v]
		if step == nil {
			return fmt.Errorf("no migration from format %d to %d", v, v+1)
		}
		if err := step(tx); err != nil {
			return fmt.Errorf("migrate from format %d to %d: %w", v, v+1, err)
		}
	}
	b, err := tx.CreateBucketIfNotExists(f.Bucket)
	if err != nil {
		return err
	}
	if string(b.Get(f.Key)) == strconv.Itoa(to) {
		return nil
	}
	return b.Put(f.Key, []byte(strconv.Itoa(to)))
}
