package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltformat"
	"github.com/tocsin-dev/tocsin/core/boltsafe"
	"github.com/tocsin-dev/tocsin/core/fsafe"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors of Open and Recover, wrapped with what the operator needs to know.
var (
	// ErrCorrupt: the file is not a readable outbox (damaged, truncated,
	// or a record does not decode). Recover salvages it.
	ErrCorrupt = errors.New("outbox damaged")
	// ErrLocked: another process holds the file.
	ErrLocked = errors.New("outbox locked")
	// ErrNewerFormat: a newer tocsin wrote the file.
	ErrNewerFormat = errors.New("outbox of a newer format")
)

// lockTimeout bounds how long Open waits for the file lock that another
// process holds.
const lockTimeout = time.Second

// pageSize is the bbolt page size of new files. Fixed rather than the
// OS's, so that Recover knows it when both meta pages are gone.
const pageSize = 4096

// openBolt opens path with boltsafe.Open, bounded by lockTimeout, and
// classifies its errors: a *boltsafe.DamageError for a file that is not a
// readable database, ErrLocked for one that another process holds.
// noSync is applied to the database.
func openBolt(path string, readOnly, noSync bool) (*bolt.DB, error) {
	db, err := boltsafe.Open(path, bolt.Options{
		Timeout:      lockTimeout,
		ReadOnly:     readOnly,
		NoSync:       noSync,
		PageSize:     pageSize,
		FreelistType: bolt.FreelistMapType,
	})
	var d *boltsafe.DamageError
	switch {
	case errors.As(err, &d):
		return nil, d
	case errors.Is(err, boltsafe.ErrLocked):
		return nil, lockedError(path)
	case err != nil:
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return db, nil
}

// lockedError is the error of a file that another process holds.
func lockedError(path string) error {
	who := "another process"
	if pid := lockHolder(path); pid > 0 {
		who += " (pid " + strconv.Itoa(pid) + ")"
	}
	return fmt.Errorf("outbox %s is in use by %s, most likely a tocsin agent with the same data_dir: "+
		"it stays locked while that process runs; stop it, or give this one another data_dir (%w)", path, who, ErrLocked)
}

// recoverCommand is the command that salvages the outbox of the agent
// configured by configPath.
func recoverCommand(configPath string) string {
	if configPath == "" {
		configPath = "<config file>"
	}
	return "tocsin outbox recover -config " + configPath
}

// corruptError is the error of a file that is not a readable outbox.
func corruptError(path string, cause error, recoverCmd string) error {
	return fmt.Errorf("open outbox %s: %w: %v; tocsin will not start with an empty queue in its place. "+
		"Stop tocsin and run `%s`: it moves the file aside to %s.corrupt-<time> and keeps every entry that can still be read",
		path, ErrCorrupt, cause, recoverCmd, path)
}

// newerError is the error of a file written by a newer tocsin.
func newerError(path string, version int, recoverCmd string) error {
	return fmt.Errorf("open outbox %s: %w: written by a newer Tocsin (format %d; this binary reads up to %d): "+
		"install that version or newer, or stop tocsin and move the file aside with `%s`, "+
		"which keeps the entries this binary can read",
		path, ErrNewerFormat, version, formatVersion, recoverCmd)
}

// health is what verify found out about a usable outbox file.
type health struct {
	rebuildIndex bool // the indexes disagree with the entries
}

// newerFormat is verify's error for a file of a newer format.
type newerFormat struct{ version int }

// Error implements error.
func (e *newerFormat) Error() string {
	return fmt.Sprintf("format %d is newer than %d", e.version, formatVersion)
}

// diagnose opens the existing file at path read-only and verifies it.
// damage is what is wrong with the file; err is any other reason it
// cannot be used: the lock, a *newerFormat, an I/O error.
func diagnose(path string, size int64) (h health, damage, err error) {
	db, err := openBolt(path, true, true)
	if d := (*boltsafe.DamageError)(nil); errors.As(err, &d) {
		return health{}, d.Cause, nil
	}
	if err != nil {
		return health{}, nil, err
	}
	h, verr := verify(db, size)
	_ = db.Close()
	if nf := (*newerFormat)(nil); errors.As(verr, &nf) {
		return health{}, nil, verr
	}
	return h, verr, nil
}

// verify reads the whole database once: the pages its meta page claims
// must lie within the file (size bytes), every bucket and record must be
// readable, bbolt's consistency check must pass, the format must be known
// and every entry must decode. Panics and memory faults become errors.
func verify(db *bolt.DB, size int64) (health, error) {
	var h health
	err := boltsafe.Guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := boltsafe.ReadThrough(tx, size); err != nil {
				return err
			}
			if err := boltsafe.Consistent(tx); err != nil {
				return err
			}
			var names []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
			if len(names) == 0 {
				return nil // a new database
			}
			if err := checkFormat(tx, names); err != nil {
				return err
			}
			ok, err := checkEntries(tx)
			h.rebuildIndex = !ok
			return err
		})
	})
	return h, err
}

// checkFormat checks that tx holds an outbox of a known format; names are
// its top-level buckets.
func checkFormat(tx *bolt.Tx, names []string) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		return fmt.Errorf("not a tocsin outbox: it holds the buckets %s and no %q bucket", strings.Join(names, ", "), metaBucket)
	}
	raw := meta.Get(versionKey)
	v, err := strconv.Atoi(string(raw))
	switch {
	case raw == nil:
		return errors.New("the meta bucket has no format version")
	case err != nil || v < 1:
		return fmt.Errorf("the format version %q is not valid", raw)
	case v > formatVersion:
		return &newerFormat{version: v}
	}
	if tx.Bucket(entriesBucket) == nil {
		return fmt.Errorf("the %q bucket is missing", entriesBucket)
	}
	return nil
}

// checkEntries decodes every entry; it reports whether both indexes hold
// exactly the keys the entries call for.
func checkEntries(tx *bolt.Tx) (bool, error) {
	var due, states [][]byte
	err := tx.Bucket(entriesBucket).ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("entry %s is a bucket", quoteKey(k))
		}
		e, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		d, s := expectedKeys(e)
		if d != nil {
			due = append(due, d)
		}
		states = append(states, s)
		return nil
	})
	if err != nil {
		return false, err
	}
	dueB, statesB := tx.Bucket(dueBucket), tx.Bucket(statesBucket)
	if dueB == nil || statesB == nil {
		return false, nil
	}
	sortKeys(due)
	sortKeys(states)
	return sameKeys(dueB, due) && sameKeys(statesB, states), nil
}

// sortKeys sorts keys in bbolt's order.
func sortKeys(keys [][]byte) {
	slices.SortFunc(keys, bytes.Compare)
}

// migrations[v] turns an outbox of format v into format v+1, inside the
// transaction in which Open opens it. A new format adds its step here and
// a fixture (see fixture_test.go).
var migrations = map[int]func(tx *bolt.Tx) error{}

// versioning is where an outbox records its format version; a file without
// one is new.
func versioning(steps map[int]func(*bolt.Tx) error) boltformat.Format {
	return boltformat.Format{Bucket: metaBucket, Key: versionKey, Missing: 0, Steps: steps}
}

// fileFormat returns the format version recorded in tx; 0 when the file
// has none (a new file).
func fileFormat(tx *bolt.Tx) (int, error) { return versioning(nil).Version(tx) }

// migrate brings the outbox of tx from its format to format to, one step
// of steps at a time, and records the version. A new file gets format to
// at once. A newer file is refused with a *newerFormat.
func migrate(tx *bolt.Tx, to int, steps map[int]func(*bolt.Tx) error) error {
	err := versioning(steps).Migrate(tx, to)
	if n := (*boltformat.NewerError)(nil); errors.As(err, &n) {
		return &newerFormat{version: n.Version}
	}
	return err
}

// initBuckets creates the buckets of a new outbox, migrates an older one
// to the current format and, when rebuild is set, builds both indexes
// afresh from the entries.
func initBuckets(tx *bolt.Tx, rebuild bool) error {
	if err := migrate(tx, formatVersion, migrations); err != nil {
		return err
	}
	if rebuild {
		for _, name := range [][]byte{dueBucket, statesBucket} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
	}
	for _, name := range [][]byte{entriesBucket, dueBucket, statesBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if !rebuild {
		return nil
	}
	b, err := txBuckets(tx)
	if err != nil {
		return err
	}
	return b.entries.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		d, s := expectedKeys(e)
		if d != nil {
			if err := b.due.Put(d, nil); err != nil {
				return err
			}
		}
		return b.states.Put(s, nil)
	})
}

// prepareDir creates the directory of path, data_dir (0700), when it is
// missing, and refuses it when its owner or mode, or a parent's, would let
// another user change the outbox (see package fsafe).
func prepareDir(path string) error {
	return fsafe.PrepareDataDir(filepath.Dir(path))
}
