package outbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltsalvage"
)

// formatVersion is the version of the file's layout and record encoding,
// stored in the meta bucket. Open refuses files of a higher version.
const formatVersion = 1

// maxIDLen bounds entry IDs (a Message-ID is a header value; RFC 5322
// lines end at 998 characters).
const maxIDLen = 998

// Bucket and key names.
var (
	metaBucket    = []byte("meta")
	entriesBucket = []byte("entries")
	dueBucket     = []byte("due")
	statesBucket  = []byte("states")
	versionKey    = []byte("format")
)

// timeKeyLen is the length of an encoded time in index keys.
const timeKeyLen = 12

// putTime appends t to b so that encoded times sort as the times do:
// seconds since 1970 with the sign bit flipped, then nanoseconds, both
// big-endian. Every time.Time has an encoding, the zero time included.
func putTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// getTime decodes a time written by putTime.
func getTime(b []byte) time.Time {
	s := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(s, int64(binary.BigEndian.Uint32(b[8:])))
}

// dueKey is the key in the due index of the entry id due at next.
func dueKey(next time.Time, id string) []byte {
	return append(putTime(make([]byte, 0, timeKeyLen+len(id)), next), id...)
}

// stateByte is the prefix of a state in the states index.
func stateByte(s State) byte {
	if s == Dead {
		return 'd'
	}
	return 'p'
}

// stateKey is the key of an entry in the states index.
func stateKey(s State, enqueued time.Time, id string) []byte {
	b := make([]byte, 0, 1+timeKeyLen+len(id))
	b = append(b, stateByte(s))
	return append(putTime(b, enqueued), id...)
}

// keyID returns the entry ID at the end of an index key whose prefix is
// prefix bytes long.
func keyID(k []byte, prefix int) string {
	if len(k) < prefix {
		return ""
	}
	return string(k[prefix:])
}

// validState reports whether s is a state an entry can be stored in.
func validState(s State) bool { return s == Pending || s == Dead }

// checkEntry validates what an entry must hold to be stored.
func checkEntry(e *Entry) error {
	switch {
	case e == nil:
		return errors.New("nil entry")
	case e.ID == "":
		return errors.New("entry without ID")
	case len(e.ID) > maxIDLen:
		return fmt.Errorf("entry ID of %d bytes (at most %d)", len(e.ID), maxIDLen)
	case !validState(e.State):
		return fmt.Errorf("entry %q: invalid state %q", e.ID, e.State)
	}
	return nil
}

// encodeEntry is the JSON record of e (see record).
func encodeEntry(e *Entry) ([]byte, error) {
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	// Mail bodies are HTML: keep <, > and & as they are rather than as
	// \u003c..., which makes records bigger and slower to decode.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(newRecord(e)); err != nil {
		return nil, fmt.Errorf("encode entry %q: %w", e.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// decodeEntry parses the record stored under key. A record that is not
// JSON, is stored under another ID or holds an unknown state does not
// decode.
func decodeEntry(key, v []byte) (*Entry, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("entry %s: decode: %w", quoteKey(key), err)
	}
	e := r.entry()
	if e.ID != string(key) {
		return nil, fmt.Errorf("entry %s: decode: the record holds entry %q", quoteKey(key), e.ID)
	}
	if !validState(e.State) {
		return nil, fmt.Errorf("entry %s: decode: unknown state %q", quoteKey(key), e.State)
	}
	return e, nil
}

// quoteKey quotes a key for messages, shortened if long.
func quoteKey(k []byte) string { return boltsalvage.QuoteKey(k) }

// indexed is what the indexes know of an entry.
type indexed struct {
	State       State     `json:"state"`
	EnqueuedAt  time.Time `json:"enqueued_at"`
	NextAttempt time.Time `json:"next_attempt"`
}

// buckets are the outbox's buckets inside one transaction.
type buckets struct {
	entries, due, states *bolt.Bucket
}

// txBuckets returns the buckets of tx, or an error when one is missing.
func txBuckets(tx *bolt.Tx) (buckets, error) {
	b := buckets{
		entries: tx.Bucket(entriesBucket),
		due:     tx.Bucket(dueBucket),
		states:  tx.Bucket(statesBucket),
	}
	if b.entries == nil || b.due == nil || b.states == nil {
		return b, errors.New("the outbox buckets are missing")
	}
	return b, nil
}

// get returns the entry id, or nil when it is absent.
func (b buckets) get(id string) (*Entry, error) {
	v := b.entries.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeEntry([]byte(id), v)
}

// put stores e (already encoded as rec) and its index keys. old is what
// the indexes hold for e's ID, nil when e is new.
func (b buckets) put(e *Entry, rec []byte, old *indexed) error {
	if old != nil {
		if err := b.unindex(e.ID, *old); err != nil {
			return err
		}
	}
	if err := b.entries.Put([]byte(e.ID), rec); err != nil {
		return fmt.Errorf("entry %q: %w", e.ID, err)
	}
	if e.State == Pending {
		if err := b.due.Put(dueKey(e.NextAttempt, e.ID), nil); err != nil {
			return fmt.Errorf("entry %q: index: %w", e.ID, err)
		}
	}
	if err := b.states.Put(stateKey(e.State, e.EnqueuedAt, e.ID), nil); err != nil {
		return fmt.Errorf("entry %q: index: %w", e.ID, err)
	}
	return nil
}

// unindex removes the index keys of the entry id as it is stored (old).
func (b buckets) unindex(id string, old indexed) error {
	if old.State == Pending {
		if err := b.due.Delete(dueKey(old.NextAttempt, id)); err != nil {
			return fmt.Errorf("entry %q: index: %w", id, err)
		}
	}
	if err := b.states.Delete(stateKey(old.State, old.EnqueuedAt, id)); err != nil {
		return fmt.Errorf("entry %q: index: %w", id, err)
	}
	return nil
}

// stored returns what the indexes hold for the stored entry id, or nil
// when there is none.
func (b buckets) stored(id string) (*indexed, error) {
	v := b.entries.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var ix indexed
	if err := json.Unmarshal(v, &ix); err != nil {
		return nil, fmt.Errorf("entry %q: decode: %w", id, err)
	}
	return &ix, nil
}

// remove deletes the entry id and its index keys; it reports whether the
// entry was there.
func (b buckets) remove(id string) (bool, error) {
	old, err := b.stored(id)
	if err != nil || old == nil {
		return false, err
	}
	if err := b.unindex(id, *old); err != nil {
		return false, err
	}
	if err := b.entries.Delete([]byte(id)); err != nil {
		return false, fmt.Errorf("entry %q: %w", id, err)
	}
	return true, nil
}

// forState calls fn for every key of the states index (through its
// cursor c) that starts with the prefix of state s, in order, until fn
// returns false.
func forState(c *bolt.Cursor, s State, fn func(k []byte) bool) {
	p := []byte{stateByte(s)}
	for k, _ := c.Seek(p); bytes.HasPrefix(k, p); k, _ = c.Next() {
		if !fn(k) {
			return
		}
	}
}

// expectedKeys returns the index keys an entry should have.
func expectedKeys(e *Entry) (due, state []byte) {
	if e.State == Pending {
		due = dueKey(e.NextAttempt, e.ID)
	}
	return due, stateKey(e.State, e.EnqueuedAt, e.ID)
}

// sameKeys reports whether the keys of bucket b are exactly want (sorted).
func sameKeys(b *bolt.Bucket, want [][]byte) bool {
	c := b.Cursor()
	i := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if i >= len(want) || !bytes.Equal(k, want[i]) {
			return false
		}
		i++
	}
	return i == len(want)
}
