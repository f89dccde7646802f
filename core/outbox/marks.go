package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// marksBucket holds the hand-off marks, one per name. It is created by the
// first EnqueueWithMarks; an outbox without it has no marks.
var marksBucket = []byte("marks")

// Mark records that a caller handed entries to the outbox: the caller's
// sequence number for its name and whatever the caller needs to know about
// that hand-off after a crash (the agent keeps the rule's new state there).
// Because the mark is written in the same transaction as the entries, the
// entries and the mark are either both stored or neither.
type Mark struct {
	// Name is the key: the agent uses the rule name.
	Name string
	// Seq is the caller's sequence number; it should grow with each
	// hand-off of the same name, so that the caller can tell a new mark
	// from one it has already taken into account.
	Seq uint64
	// Data is stored as given.
	Data []byte
}

// encodeMark is Seq (8 bytes, big endian) followed by Data.
func encodeMark(m Mark) []byte {
	b := make([]byte, 8+len(m.Data))
	binary.BigEndian.PutUint64(b, m.Seq)
	copy(b[8:], m.Data)
	return b
}

// decodeMark is the inverse of encodeMark.
func decodeMark(name, v []byte) (Mark, error) {
	if len(v) < 8 {
		return Mark{}, fmt.Errorf("hand-off mark %s is %d bytes, shorter than its sequence number", quoteKey(name), len(v))
	}
	return Mark{Name: string(name), Seq: binary.BigEndian.Uint64(v), Data: append([]byte(nil), v[8:]...)}, nil
}

// EnqueueWithMarks is Enqueue that also stores marks, each replacing the
// mark of its name, in the same synced (group-committed) transaction: after
// a crash at any moment the outbox holds the entries and the marks, or
// neither. Entries are checked and set up as Enqueue does; a mark without a
// name is refused and nothing is stored.
//
// When ctx ends first, the error is ctx's and the entries and marks may or
// may not have been stored (both or neither): read Marks later to know.
func (o *Outbox) EnqueueWithMarks(ctx context.Context, marks []Mark, entries ...*Entry) error {
	_, err := o.EnqueueStored(ctx, marks, entries...)
	return err
}

// EnqueueStored is EnqueueWithMarks that also returns the entries it
// stored: those of entries whose ID the outbox did not hold already (they
// are left as they were). When it returns them, they are on disk: the
// caller may hand them on (to the dispatcher) instead of reading them
// back. The entries returned are those passed, not copies.
func (o *Outbox) EnqueueStored(ctx context.Context, marks []Mark, entries ...*Entry) ([]*Entry, error) {
	for _, m := range marks {
		if m.Name == "" {
			return nil, errors.New("enqueue: hand-off mark without a name")
		}
	}
	if len(entries) == 0 && len(marks) == 0 {
		return nil, nil
	}
	recs, err := o.prepare(entries)
	if err != nil {
		return nil, err
	}
	var stored []*Entry
	err = o.write(ctx, func(tx *bolt.Tx) error {
		// Run again when the group commit retries without another
		// request that failed: only the last run counts.
		var err error
		if stored, err = putEntries(tx, entries, recs); err != nil {
			return err
		}
		if len(marks) == 0 {
			return nil
		}
		mb, err := tx.CreateBucketIfNotExists(marksBucket)
		if err != nil {
			return err
		}
		for _, m := range marks {
			if err := mb.Put([]byte(m.Name), encodeMark(m)); err != nil {
				return fmt.Errorf("hand-off mark %q: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		if len(marks) == 0 {
			return nil, fmt.Errorf("enqueue %d entries: %w", len(entries), err)
		}
		return nil, fmt.Errorf("enqueue %d entries with %d hand-off marks: %w", len(entries), len(marks), err)
	}
	return stored, nil
}

// Marks returns the stored hand-off marks by name. A mark that cannot be
// decoded is left out and named in the error; the map still holds the
// others.
func (o *Outbox) Marks() (map[string]Mark, error) {
	out := map[string]Mark{}
	var bad []error
	err := o.viewTx(func(tx *bolt.Tx) error {
		mb := tx.Bucket(marksBucket)
		if mb == nil {
			return nil
		}
		return mb.ForEach(func(k, v []byte) error {
			m, err := decodeMark(k, v)
			if err != nil {
				bad = append(bad, err)
				return nil
			}
			out[m.Name] = m
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read hand-off marks: %w", err)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("read hand-off marks: %w", errors.Join(bad...))
	}
	return out, nil
}
