package outbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltsafe"
	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// ErrNotFound is returned (wrapped) for an entry ID the outbox does not
// hold.
var ErrNotFound = errors.New("no such outbox entry")

// Options tune an Outbox.
type Options struct {
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// NoSync is for benchmarks that compare; never set in the agent.
	NoSync bool
	// ConfigPath is the agent's configuration file, named in the recovery
	// command that Open's errors give (tocsin outbox recover -config PATH).
	ConfigPath string
	// CommitFault, when set, is called before every write transaction: an
	// error it returns fails that transaction's writes, as a full or
	// failing disk would. A seam for tests; nil in the agent.
	CommitFault func() error
}

// Outbox is the durable queue of notifications, one bbolt file. It is safe
// for concurrent use. Every write is synced to disk before it returns.
type Outbox struct {
	db    *bolt.DB
	path  string
	now   func() time.Time
	fault func() error // Options.CommitFault

	mu     sync.Mutex // guards closed and queue
	closed bool
	queue  []*request

	wake      chan struct{} // capacity 1: there are queued requests
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the committer has returned
	closeOnce sync.Once
	closeErr  error

	commits atomic.Int64 // write transactions committed, for benchmarks
}

// syncDir flushes a directory (fsafe.SyncDir); a variable so that tests
// can see Open sync the new file's name.
var syncDir = fsafe.SyncDir

// Open opens the outbox file at path (the agent uses data_dir/outbox.db),
// creating it (mode 0600, its directory 0700) when it is missing.
//
// An existing file is read through once before it is used. A file that is
// not a valid bbolt database, or whose buckets or entries do not decode,
// is refused with an error that wraps ErrCorrupt, names the file and gives
// the recovery command (see Recover); it is never emptied or rewritten.
// A file written by a newer tocsin is refused with ErrNewerFormat. The
// indexes are derived data: when they disagree with the entries, Open
// rebuilds them.
//
// Only one process may hold the file: when another one does, Open gives up
// after about a second with an error that wraps ErrLocked and names the
// holder's pid where the system tells it.
func Open(path string, opts Options) (*Outbox, error) {
	if path == "" {
		return nil, errors.New("open outbox: empty path")
	}
	if err := prepareDir(path); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	cmd := recoverCommand(opts.ConfigPath)
	var h health
	st, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	if err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		// Read through once before use, so that damage shows as an error
		// here instead of as a panic or a memory fault later: bbolt
		// trusts its pages, and in read-write mode it reads the freelist
		// inside Open.
		var damage error
		h, damage, err = diagnose(path, st.Size())
		if nf := (*newerFormat)(nil); errors.As(err, &nf) {
			return nil, newerError(path, nf.version, cmd)
		}
		if err != nil {
			return nil, err
		}
		if damage != nil {
			return nil, corruptError(path, damage, cmd)
		}
	}
	db, err := openBolt(path, false, opts.NoSync)
	if d := (*boltsafe.DamageError)(nil); errors.As(err, &d) {
		return nil, corruptError(path, d.Cause, cmd)
	}
	if err != nil {
		return nil, err
	}
	if err := boltsafe.Guard(func() error {
		return db.Update(func(tx *bolt.Tx) error { return initBuckets(tx, h.rebuildIndex) })
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open outbox %s: create buckets: %w", path, err)
	}
	if created {
		// The new file's name must survive a crash too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open outbox %s: %w", path, err)
		}
	}
	o := &Outbox{
		db:      db,
		path:    path,
		now:     opts.Now,
		fault:   opts.CommitFault,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if o.now == nil {
		o.now = time.Now
	}
	go o.commitLoop()
	return o, nil
}

// format returns the format version the open outbox records.
func (o *Outbox) format() (int, error) {
	var v int
	err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = fileFormat(tx)
		return err
	})
	return v, err
}

// Path returns the file the outbox is stored in.
func (o *Outbox) Path() string { return o.path }

// Close commits the writes already queued, then releases the file and its
// lock. Calls after the first return the first one's result.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.quit)
		<-o.stopped
		if err := o.db.Close(); err != nil {
			o.closeErr = fmt.Errorf("close outbox %s: %w", o.path, err)
		}
	})
	return o.closeErr
}

// Enqueue stores entries durably (synced) in one transaction; concurrent
// callers are group-committed, so many small enqueues cost few fsyncs.
// Each entry gets State Pending, and EnqueuedAt and NextAttempt = now
// unless set; Enqueue sets these fields on the entries passed. An ID
// already present is left as it is (idempotent: a rule re-enqueueing after
// a crash must not duplicate). Entries with another State, or without an
// ID, are refused and nothing is stored.
//
// When ctx ends first, Enqueue returns its error and the entries may or
// may not have been stored; enqueueing them again is safe.
func (o *Outbox) Enqueue(ctx context.Context, entries ...*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	recs, err := o.prepare(entries)
	if err != nil {
		return err
	}
	err = o.write(ctx, func(tx *bolt.Tx) error {
		_, err := putEntries(tx, entries, recs)
		return err
	})
	if err != nil {
		return fmt.Errorf("enqueue %d entries: %w", len(entries), err)
	}
	return nil
}

// prepare checks entries and sets them up for Enqueue, and returns their
// records.
func (o *Outbox) prepare(entries []*Entry) ([][]byte, error) {
	now := o.now()
	recs := make([][]byte, len(entries))
	for i, e := range entries {
		if e == nil {
			return nil, errors.New("enqueue: nil entry")
		}
		if e.State == "" {
			e.State = Pending
		}
		if e.State != Pending {
			return nil, fmt.Errorf("enqueue entry %q: state %q (new entries are %q)", e.ID, e.State, Pending)
		}
		if e.EnqueuedAt.IsZero() {
			e.EnqueuedAt = now
		}
		if e.NextAttempt.IsZero() {
			e.NextAttempt = now
		}
		rec, err := encodeEntry(e)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		recs[i] = rec
	}
	return recs, nil
}

// putEntries stores new entries in tx, and returns those it stored: an
// ID already present is left as it is.
func putEntries(tx *bolt.Tx, entries []*Entry, recs [][]byte) ([]*Entry, error) {
	b, err := txBuckets(tx)
	if err != nil {
		return nil, err
	}
	stored := make([]*Entry, 0, len(entries))
	for i, e := range entries {
		if b.entries.Get([]byte(e.ID)) != nil {
			continue
		}
		if err := b.put(e, recs[i], nil); err != nil {
			return nil, err
		}
		stored = append(stored, e)
	}
	return stored, nil
}

// Due returns up to limit Pending entries with NextAttempt <= now, oldest
// NextAttempt first (then by ID), and when the next entry left out is
// due: the NextAttempt of the first pending entry not returned, zero when
// there is none. When more entries are due than limit, that time is not
// after now: call Due again at once. limit <= 0 means no limit.
//
// Due reads the due index and stops at the first entry not yet due; it
// does not decode the rest of the queue. It does not lease: entries stay
// due until Save or Done changes them, so the caller keeps track of what
// it has in flight.
func (o *Outbox) Due(limit int) ([]*Entry, time.Time, error) {
	now := o.now()
	var (
		out  []*Entry
		next time.Time
	)
	err := o.view(func(b buckets) error {
		c := b.due.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) <= timeKeyLen {
				return fmt.Errorf("due index key %x is malformed", k)
			}
			at := getTime(k)
			if at.After(now) || (limit > 0 && len(out) >= limit) {
				next = at
				return nil
			}
			id := k[timeKeyLen:]
			v := b.entries.Get(id)
			if v == nil {
				return fmt.Errorf("the due index names entry %s, which is missing", quoteKey(id))
			}
			e, err := decodeEntry(id, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read due entries: %w", err)
	}
	return out, next, nil
}

// Save writes back entries after attempts (new Hop, Attempts, NextAttempt,
// Last, State...) in one synced transaction, keeping the indexes right.
// Entries no longer in the outbox (dropped, or sent, meanwhile), and
// copies taken before an operator's Retry, are skipped, so that an
// operator's drop or retry is never undone.
func (o *Outbox) Save(ctx context.Context, entries ...*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	recs := make([][]byte, len(entries))
	for i, e := range entries {
		rec, err := encodeEntry(e)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		recs[i] = rec
	}
	err := o.write(ctx, func(tx *bolt.Tx) error {
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		for i, e := range entries {
			old, err := b.stored(e.ID)
			if err != nil {
				return err
			}
			if old == nil {
				continue
			}
			cur, err := b.get(e.ID)
			if err != nil {
				return err
			}
			if cur == nil || !cur.RetriedAt.Equal(e.RetriedAt) {
				continue
			}
			if err := b.put(e, recs[i], old); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %d entries: %w", len(entries), err)
	}
	return nil
}

// Done removes sent entries in one synced transaction. IDs the outbox
// does not hold are ignored.
func (o *Outbox) Done(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := o.write(ctx, func(tx *bolt.Tx) error {
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := b.remove(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %d sent entries: %w", len(ids), err)
	}
	return nil
}

// Get returns the entry id; the error wraps ErrNotFound when there is
// none.
func (o *Outbox) Get(id string) (*Entry, error) {
	var e *Entry
	err := o.view(func(b buckets) error {
		var err error
		e, err = b.get(id)
		if err == nil && e == nil {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get outbox entry %q: %w", id, err)
	}
	return e, nil
}

// List returns the entries in state ("" for all), oldest EnqueuedAt first
// (then by ID).
func (o *Outbox) List(state State) ([]*Entry, error) {
	if state != "" && !validState(state) {
		return nil, fmt.Errorf("list outbox entries: unknown state %q", state)
	}
	states := []State{state}
	if state == "" {
		states = []State{Pending, Dead}
	}
	var out []*Entry
	err := o.view(func(b buckets) error {
		c := b.states.Cursor()
		for _, s := range states {
			var ferr error
			forState(c, s, func(k []byte) bool {
				id := keyID(k, 1+timeKeyLen)
				e, err := b.get(id)
				if err == nil && e == nil {
					err = fmt.Errorf("the states index names entry %q, which is missing", id)
				}
				if err != nil {
					ferr = err
					return false
				}
				out = append(out, e)
				return true
			})
			if ferr != nil {
				return ferr
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list outbox entries: %w", err)
	}
	slices.SortFunc(out, byEnqueued)
	return out, nil
}

// byEnqueued orders entries by EnqueuedAt, then by ID (IDs are unique, so
// no two entries compare equal).
func byEnqueued(a, b *Entry) int {
	if c := a.EnqueuedAt.Compare(b.EnqueuedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Retry puts a Dead or Pending entry back at the start of its chain: State
// Pending, Hop 0, Attempts 0, HopSince zero, due now. TotalAttempts and
// Last are kept for the record; RetriedAt is set. The error wraps
// ErrNotFound when the outbox does not hold id. If the dispatcher has the
// entry in flight, its Save of the old copy is skipped; its Done (the send
// succeeded) still removes the entry.
func (o *Outbox) Retry(ctx context.Context, id string) error {
	now := o.now()
	err := o.write(ctx, func(tx *bolt.Tx) error {
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		e, err := b.get(id)
		if err != nil {
			return err
		}
		if e == nil {
			return ErrNotFound
		}
		old := indexed{State: e.State, EnqueuedAt: e.EnqueuedAt, NextAttempt: e.NextAttempt}
		e.State, e.Hop, e.Attempts, e.HopSince, e.NextAttempt, e.RetriedAt = Pending, 0, 0, time.Time{}, now, now
		rec, err := encodeEntry(e)
		if err != nil {
			return err
		}
		return b.put(e, rec, &old)
	})
	if err != nil {
		return fmt.Errorf("retry outbox entry %q: %w", id, err)
	}
	return nil
}

// Drop deletes the entry id, whatever its state; the error wraps
// ErrNotFound when the outbox does not hold it.
func (o *Outbox) Drop(ctx context.Context, id string) error {
	err := o.write(ctx, func(tx *bolt.Tx) error {
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		removed, err := b.remove(id)
		if err == nil && !removed {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("drop outbox entry %q: %w", id, err)
	}
	return nil
}

// Stats counts the outbox, for /metrics, /v1/status and the outbox fact.
type Stats struct {
	// Pending and Dead count the entries in each state.
	Pending, Dead int
	// OldestPending is the EnqueuedAt of the oldest pending entry; zero if
	// none.
	OldestPending time.Time
}

// Stats counts the entries from the states index, without decoding them.
func (o *Outbox) Stats() (Stats, error) {
	var st Stats
	err := o.view(func(b buckets) error {
		c := b.states.Cursor()
		forState(c, Pending, func(k []byte) bool {
			if st.Pending == 0 {
				st.OldestPending = getTime(k[1:])
			}
			st.Pending++
			return true
		})
		forState(c, Dead, func([]byte) bool {
			st.Dead++
			return true
		})
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("count outbox entries: %w", err)
	}
	return st, nil
}

// view runs fn in a read transaction.
func (o *Outbox) view(fn func(buckets) error) error {
	return o.viewTx(func(tx *bolt.Tx) error {
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// viewTx runs fn in a read transaction of the open outbox.
func (o *Outbox) viewTx(fn func(*bolt.Tx) error) error {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: %s", ErrClosed, o.path)
	}
	return boltsafe.Guard(func() error { return o.db.View(fn) })
}
