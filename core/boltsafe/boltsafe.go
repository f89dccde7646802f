// Package boltsafe opens and reads bbolt files that may be damaged
// without letting the damage crash the agent. bbolt trusts its pages: a
// damaged one makes it panic, and a truncated file makes it fault on a
// mapped page that is not there. The agent's two bbolt stores (the
// outbox and the rule state) open their files with [Open], run every
// transaction under [Guard], and read an existing file through once with
// [ReadThrough] and [Consistent] before they use it, so that damage shows
// as an error when the file is opened, with a way to recover it.
//
// What the stores' versions mean is package boltformat's; reading what
// is left of a damaged file, without bbolt, is package boltsalvage's.
package boltsafe

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// ErrLocked is wrapped by Open's error when another process held the
// file's lock for all of the options' Timeout.
var ErrLocked = errors.New("locked by another process")

// PanicError is a panic, or a memory fault on a mapped page, turned into
// an error by Guard.
type PanicError struct {
	// Value is what was passed to panic (a runtime.Error for a fault).
	Value any
}

// Error reads "damaged database: <value>".
func (p *PanicError) Error() string { return fmt.Sprintf("damaged database: %v", p.Value) }

// Guard runs f, turning a panic, and a memory fault on a mapped page (a
// truncated file), into a *PanicError.
func Guard(f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
		}
	}()
	return f()
}

// DamageError is Open's error for a file that is not a readable bbolt
// database: bbolt found it invalid, its checksum wrong or its version
// unknown, or panicked reading it.
type DamageError struct {
	// Cause is bbolt's error or the *PanicError.
	Cause error
}

// Error returns the cause's text.
func (d *DamageError) Error() string { return d.Cause.Error() }

// Unwrap returns the cause.
func (d *DamageError) Unwrap() error { return d.Cause }

// Open opens the bbolt file at path, creating it with mode 0600, under
// Guard and with opts (Timeout bounds the wait for another process's
// lock). The file is opened with fsafe.OpenFile as an fsafe.State file:
// no link followed, no FIFO blocking, owner and mode checked, and a file
// root creates is given to the data directory's owner; opts.OpenFile is
// replaced.
//
// A file that is not a readable database is refused with a *DamageError;
// one whose lock another process holds with an error that wraps
// ErrLocked; any other error is bbolt's, as it is.
func Open(path string, opts bolt.Options) (*bolt.DB, error) {
	var file *os.File
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := fsafe.OpenFile(name, flag, perm, fsafe.State)
		file = f
		return f, err
	}
	var db *bolt.DB
	err := Guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &opts)
		return err
	})
	var p *PanicError
	switch {
	case errors.As(err, &p):
		// bbolt panicked inside Open and left its file open. Close it; if
		// the file was already mapped, the mapping keeps the lock until
		// this process exits.
		if file != nil {
			_ = file.Close()
		}
		return nil, &DamageError{Cause: p}
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %w", ErrLocked, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, &DamageError{Cause: err}
	case err != nil:
		return nil, err
	}
	return db, nil
}

// ReadThrough checks that the pages tx's meta page claims lie within a
// file of size bytes, and reads every key and value of every top-level
// bucket, so that a damaged page panics or faults now. Call it under
// Guard.
func ReadThrough(tx *bolt.Tx, size int64) error {
	if tx.Size() > size {
		return fmt.Errorf("truncated: %d bytes, %d expected", size, tx.Size())
	}
	var sum byte
	touch := func(k, v []byte) error {
		for _, c := range k {
			sum += c
		}
		for _, c := range v {
			sum += c
		}
		return nil
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		return b.ForEach(touch)
	})
}

// Consistent runs bbolt's own consistency check of tx (freelist, page
// accounting) and returns its first problem, saying how many more there
// were. Call it after ReadThrough: the check trusts the B-tree.
func Consistent(tx *bolt.Tx) error {
	// Check runs in a goroutine of its own that turns panics into errors;
	// the channel must be drained.
	return firstProblem(tx.Check())
}

// firstProblem drains problems and returns the first, saying how many
// more there were; nil when there were none.
func firstProblem(problems <-chan error) error {
	var first error
	n := 0
	for err := range problems {
		if first == nil {
			first = err
		}
		n++
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more problems)", first, n-1)
	}
	return first
}
