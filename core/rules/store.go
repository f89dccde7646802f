package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltformat"
	"github.com/tocsin-dev/tocsin/core/boltsafe"
)

// stateVersion is the version of the JSON encoding of a State. Load refuses
// records of a higher version, written by a newer tocsin.
const stateVersion = 1

// openTimeout bounds how long OpenStore waits for the file lock that
// another process holds.
const openTimeout = time.Second

// stateBucket is the bbolt bucket that holds one record per rule name.
var stateBucket = []byte("rule_state")

// ErrStoreLocked is returned (wrapped) by OpenStore when another process
// holds the state file open.
var ErrStoreLocked = errors.New("in use by another tocsin process")

// ErrStoreCorrupt is returned (wrapped) by OpenStore when the state file is
// not a valid database.
var ErrStoreCorrupt = errors.New("corrupt")

// ErrStoreNewer is returned (wrapped) by OpenStore when a newer tocsin
// wrote the state file, in a format this one does not read.
var ErrStoreNewer = errors.New("written by a newer Tocsin")

// storeFormat is the version of the state file's layout, stored in the
// meta bucket under formatKey. A file without one is format 1 (releases
// before the meta bucket); OpenStore migrates older files forward and
// records the version, and refuses files of a higher one.
const storeFormat = 1

// Bucket and key of the format version.
var (
	metaBucket = []byte("meta")
	formatKey  = []byte("format")
)

// storeMigrations[v] turns a file of format v into format v+1, inside the
// transaction in which OpenStore opens it. A new format adds its step
// here and a fixture (see fixture_test.go).
var storeMigrations = map[int]func(tx *bolt.Tx) error{}

// Store persists rule states in a bbolt file, one JSON record per rule name.
// It is safe for concurrent use. Every write is one transaction that is
// synced to disk before the call returns.
type Store struct {
	db   *bolt.DB
	path string
}

// OpenStore opens or creates the state file at path (mode 0600 when
// created). Only one process may hold the file: when another one does,
// OpenStore gives up after about a second with an error that wraps
// ErrStoreLocked. A file that is not a valid state database (garbage,
// truncated, damaged pages) is refused with a *StoreError that wraps
// ErrStoreCorrupt and says how to recover (RecoverStore); it is never
// emptied or rewritten. A file of a newer format is refused the same way
// with ErrStoreNewer; an older one is migrated to the current format. An
// empty (zero-byte) file is initialised as a new store.
func OpenStore(path string) (*Store, error) {
	// An existing file is first opened read-only and read through once, so
	// that damage shows as an error here instead of as a panic or a memory
	// fault later: bbolt trusts its pages, and in read-write mode it reads
	// the freelist page inside Open.
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		if err := diagnoseStore(path, st.Size()); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	if err := boltsafe.Guard(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(stateBucket); err != nil {
				return err
			}
			return migrate(tx, storeFormat, storeMigrations)
		})
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open rule state %s: create buckets: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// diagnoseStore opens the existing file at path read-only and verifies
// it: nil when OpenStore may use it, else a *StoreError or the reason it
// cannot be opened (the lock, an I/O error).
func diagnoseStore(path string, size int64) error {
	db, err := openBolt(path, true)
	if err != nil {
		return err
	}
	verr := verify(db, size)
	_ = db.Close()
	if nf := (*newerFormat)(nil); errors.As(verr, &nf) {
		return &StoreError{Path: path, Err: ErrStoreNewer, Format: nf.version}
	}
	if verr != nil {
		return corruptError(path, verr)
	}
	return nil
}

// fileFormat returns the format version recorded in tx: 1 when there is
// none (files written before the meta bucket).
func fileFormat(tx *bolt.Tx) (int, error) { return versioning(nil).Version(tx) }

// versioning is where a state file records its format version; a file
// without one is format 1.
func versioning(steps map[int]func(*bolt.Tx) error) boltformat.Format {
	return boltformat.Format{Bucket: metaBucket, Key: formatKey, Missing: 1, Steps: steps}
}

// migrate brings the file of tx to format to, one step of steps at a
// time, and records the version. A newer file is refused with a
// *newerFormat.
func migrate(tx *bolt.Tx, to int, steps map[int]func(*bolt.Tx) error) error {
	err := versioning(steps).Migrate(tx, to)
	if n := (*boltformat.NewerError)(nil); errors.As(err, &n) {
		return &newerFormat{version: n.Version}
	}
	return err
}

// format returns the format version the open store records.
func (s *Store) format() (int, error) {
	var v int
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = fileFormat(tx)
		return err
	})
	return v, err
}

// openBolt opens path with boltsafe.Open, bounded by openTimeout, and
// classifies its errors.
func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	db, err := boltsafe.Open(path, bolt.Options{Timeout: openTimeout, ReadOnly: readOnly})
	var d *boltsafe.DamageError
	switch {
	case errors.As(err, &d):
		return nil, corruptError(path, d.Cause)
	case errors.Is(err, boltsafe.ErrLocked):
		return nil, fmt.Errorf("open rule state %s: %w (it stays locked while that process runs; stop it, or give this one another data_dir)", path, ErrStoreLocked)
	case err != nil:
		return nil, fmt.Errorf("open rule state %s: %w", path, err)
	}
	return db, nil
}

// StoreError is OpenStore's error for a state file it cannot use: damaged
// (Err is ErrStoreCorrupt) or of a newer format (ErrStoreNewer). It says
// how to recover; set ConfigPath to name the agent's configuration in the
// command it gives.
type StoreError struct {
	// Path is the state file.
	Path string
	// Err is ErrStoreCorrupt or ErrStoreNewer.
	Err error
	// Cause is what is wrong with a damaged file.
	Cause error
	// Format is the newer file's format version.
	Format int
	// ConfigPath is the agent's configuration file, for the command.
	ConfigPath string
}

// Error implements error.
func (e *StoreError) Error() string {
	cmd := RecoverCommand(e.ConfigPath)
	if errors.Is(e.Err, ErrStoreNewer) {
		return fmt.Sprintf("open rule state %s: %v (format %d; this binary reads up to %d): "+
			"install that version or newer, or stop tocsin and move the file aside with `%s`, "+
			"which keeps the rule states this binary can read",
			e.Path, ErrStoreNewer, e.Format, storeFormat, cmd)
	}
	return fmt.Sprintf("open rule state %s: the file is %v (%v); tocsin will not start without it, "+
		"since it would notify every firing alert once more. Stop tocsin and run `%s`: "+
		"it moves the file aside to %s.corrupt-<time> and keeps every rule state that can still be read",
		e.Path, ErrStoreCorrupt, e.Cause, cmd, e.Path)
}

// Unwrap returns ErrStoreCorrupt or ErrStoreNewer.
func (e *StoreError) Unwrap() error { return e.Err }

// RecoverCommand is the command that recovers the state file of the
// agent configured by configPath.
func RecoverCommand(configPath string) string {
	if configPath == "" {
		configPath = "<config file>"
	}
	return "tocsin state recover -config " + configPath
}

// corruptError is the error of a state file that cannot be used.
func corruptError(path string, cause error) error {
	return &StoreError{Path: path, Err: ErrStoreCorrupt, Cause: cause}
}

// newerFormat is verify's error for a file of a newer format.
type newerFormat struct{ version int }

// Error implements error.
func (e *newerFormat) Error() string {
	return fmt.Sprintf("format %d is newer than %d", e.version, storeFormat)
}

// verify reads the whole database once: the pages its meta page claims must
// lie within the file (size bytes), every bucket and record must be
// readable, and bbolt's consistency check must pass. Panics and memory
// faults become errors.
func verify(db *bolt.DB, size int64) error {
	return boltsafe.Guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := boltsafe.ReadThrough(tx, size); err != nil {
				return err
			}
			v, err := fileFormat(tx)
			if err != nil {
				return err
			}
			if v > storeFormat {
				return &newerFormat{version: v}
			}
			// The B-tree is sound; let bbolt check the rest.
			return boltsafe.Consistent(tx)
		})
	})
}

// storedState is the JSON form of a State.
type storedState struct {
	Version      int       `json:"v"`
	Phase        string    `json:"phase"`
	ActiveSince  time.Time `json:"active_since,omitzero"`
	FiredAt      time.Time `json:"fired_at,omitzero"`
	LastNotified time.Time `json:"last_notified,omitzero"`
	ResolvedAt   time.Time `json:"resolved_at,omitzero"`
	LastEval     time.Time `json:"last_eval,omitzero"`
	Repeats      int       `json:"repeats,omitempty"`
	Err          string    `json:"error,omitempty"`
	Seq          uint64    `json:"seq,omitempty"`
	// Changes and FlappingSince came with flap detection; a release
	// before it ignores them, and a record without them is a rule that
	// does not flap.
	Changes       []time.Time `json:"changes,omitempty"`
	FlappingSince time.Time   `json:"flapping_since,omitzero"`
}

// encodeState returns the JSON record of s.
func encodeState(s State) ([]byte, error) {
	if s.Phase < Inactive || s.Phase > Firing {
		return nil, fmt.Errorf("invalid phase %d", int(s.Phase))
	}
	return json.Marshal(storedState{
		Version:       stateVersion,
		Phase:         s.Phase.String(),
		ActiveSince:   s.ActiveSince,
		FiredAt:       s.FiredAt,
		LastNotified:  s.LastNotified,
		ResolvedAt:    s.ResolvedAt,
		LastEval:      s.LastEval,
		Repeats:       s.Repeats,
		Err:           s.Err,
		Seq:           s.Seq,
		Changes:       s.Changes,
		FlappingSince: s.FlappingSince,
	})
}

// decodeState parses a JSON record written by encodeState.
func decodeState(b []byte) (State, error) {
	var st storedState
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("decode: %w", err)
	}
	switch {
	case st.Version == 0:
		return State{}, errors.New("decode: the record has no version")
	case st.Version > stateVersion:
		return State{}, fmt.Errorf("decode: record version %d is newer than this tocsin understands (%d); it was written by a newer release", st.Version, stateVersion)
	}
	ph, err := parsePhase(st.Phase)
	if err != nil {
		return State{}, fmt.Errorf("decode: %w", err)
	}
	return State{
		Phase:         ph,
		ActiveSince:   st.ActiveSince,
		FiredAt:       st.FiredAt,
		LastNotified:  st.LastNotified,
		ResolvedAt:    st.ResolvedAt,
		LastEval:      st.LastEval,
		Repeats:       st.Repeats,
		Err:           st.Err,
		Seq:           st.Seq,
		Changes:       st.Changes,
		FlappingSince: st.FlappingSince,
	}, nil
}

// EncodeState returns the record of s as the store writes it, for keeping
// a state elsewhere (the agent keeps one beside each hand-off to the
// outbox); DecodeState reads it back.
func EncodeState(s State) ([]byte, error) { return encodeState(s) }

// DecodeState parses a record written by EncodeState or the store, with
// the store's checks (version, phase).
func DecodeState(b []byte) (State, error) { return decodeState(b) }

// Load returns the state of the rule name and whether one was stored. A
// record that cannot be decoded is an error, not an absent state.
func (s *Store) Load(name string) (State, bool, error) {
	var (
		st    State
		found bool
	)
	err := boltsafe.Guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(stateBucket)
			if b == nil {
				return nil
			}
			v := b.Get([]byte(name))
			if v == nil {
				return nil
			}
			var err error
			st, err = decodeState(v)
			found = err == nil
			return err
		})
	})
	if err != nil {
		return State{}, false, fmt.Errorf("load state of rule %q: %w", name, err)
	}
	return st, found, nil
}

// LoadAll returns the states of all rules. Records that cannot be decoded
// are left out of the map and named in the returned error; the map then
// still holds every record that could be decoded.
func (s *Store) LoadAll() (map[string]State, error) {
	out := make(map[string]State)
	var bad []error
	err := boltsafe.Guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(stateBucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				st, err := decodeState(v)
				if err != nil {
					bad = append(bad, fmt.Errorf("rule %q: %w", k, err))
					return nil
				}
				out[string(k)] = st
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load rule states: %w", err)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("load rule states: %w", errors.Join(bad...))
	}
	return out, nil
}

// Save stores the state of the rule name in one synced transaction.
func (s *Store) Save(name string, st State) error {
	if err := s.put(map[string]State{name: st}); err != nil {
		return fmt.Errorf("save state of rule %q: %w", name, err)
	}
	return nil
}

// SaveMany stores several states in one synced transaction: all are
// written or none.
func (s *Store) SaveMany(states map[string]State) error {
	if err := s.put(states); err != nil {
		return fmt.Errorf("save rule states: %w", err)
	}
	return nil
}

// put writes states in one transaction.
func (s *Store) put(states map[string]State) error {
	if len(states) == 0 {
		return nil
	}
	names := make([]string, 0, len(states))
	for name := range states {
		if name == "" {
			return errors.New("empty rule name")
		}
		names = append(names, name)
	}
	sort.Strings(names) // keys in order make for fewer page splits
	recs := make([][]byte, len(names))
	for i, name := range names {
		b, err := encodeState(states[name])
		if err != nil {
			return fmt.Errorf("rule %q: %w", name, err)
		}
		recs[i] = b
	}
	return boltsafe.Guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(stateBucket)
			if err != nil {
				return err
			}
			for i, name := range names {
				if err := b.Put([]byte(name), recs[i]); err != nil {
					return fmt.Errorf("rule %q: %w", name, err)
				}
			}
			return nil
		})
	})
}

// Delete removes the state of the rule name, e.g. of a rule that was
// removed from the configuration. Deleting an absent state is not an error.
func (s *Store) Delete(name string) error {
	err := boltsafe.Guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(stateBucket)
			if b == nil {
				return nil
			}
			return b.Delete([]byte(name))
		})
	})
	if err != nil {
		return fmt.Errorf("delete state of rule %q: %w", name, err)
	}
	return nil
}

// Close releases the file and its lock. Calls after the first are no-ops.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close rule state %s: %w", s.path, err)
	}
	return nil
}
