package outbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltsalvage"
	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// Report says what Recover found and did.
type Report struct {
	// Path is the outbox file.
	Path string
	// Intact is set when nothing was wrong: the file was left as it was.
	Intact bool
	// Problem is why Open refused the file.
	Problem string
	// MovedTo is where the damaged file now is (path.corrupt-<time>).
	MovedTo string
	// Kept counts the entries written to the new file at Path; Pending
	// and Dead split it by state.
	Kept, Pending, Dead int
	// Lost holds the IDs (quoted) of entry records that were found but
	// did not decode. Entries on pages that are gone (a truncated file)
	// leave no trace and are not listed.
	Lost []string
	// Scanned counts the kept entries found on pages the database's tree
	// no longer reaches (below a damaged page, or in a file whose meta
	// pages are gone).
	Scanned int
	// MaybeStale is set when the scan could not tell free pages from live
	// ones: some kept entries may be older versions (fewer attempts), or
	// entries already sent, which will then be sent again.
	MaybeStale bool
	// Damage lists what was found wrong inside the file.
	Damage []string
}

// String is the report for the operator.
func (r Report) String() string {
	if r.Intact {
		return fmt.Sprintf("outbox %s is intact: nothing to recover", r.Path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "outbox %s was damaged: %s\n", r.Path, r.Problem)
	fmt.Fprintf(&b, "moved it to %s (keep it until the agent runs well again)\n", r.MovedTo)
	fmt.Fprintf(&b, "kept %d entries (%d pending, %d dead) in a new %s\n", r.Kept, r.Pending, r.Dead, r.Path)
	if len(r.Lost) > 0 {
		fmt.Fprintf(&b, "lost %d entries that did not decode: %s\n", len(r.Lost), strings.Join(r.Lost, ", "))
	}
	if r.Scanned > 0 {
		fmt.Fprintf(&b, "%d of the kept entries were found on pages the database no longer reached\n", r.Scanned)
	}
	if r.MaybeStale {
		b.WriteString("warning: free pages could not be told from live ones: some kept entries may be older versions, or sent already and will be sent again\n")
	}
	for _, d := range r.Damage {
		fmt.Fprintf(&b, "damage: %s\n", d)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Recover salvages the outbox file at path after Open refused it as
// damaged. It reads every entry it still can (see salvage), writes them to
// a new file, moves the damaged file aside to path.corrupt-<time> (UTC,
// 20060102T150405Z) and puts the new file in its place; at every moment
// path holds either the damaged file or the complete new one. The agent
// must not run: a file another process holds is refused with ErrLocked.
//
// A file that Open accepts is left as it is (Report.Intact). A file
// written by a newer tocsin, which Open refuses, is set aside the same
// way, keeping the entries this binary can decode (what the newer release
// added to them is lost).
func Recover(path string) (Report, error) {
	rep := Report{Path: path}
	if err := fsafe.CheckDataDir(filepath.Dir(path)); err != nil {
		return rep, fmt.Errorf("recover outbox %s: %w", path, err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		return rep, fmt.Errorf("recover outbox %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return rep, fmt.Errorf("recover outbox %s: not a regular file", path)
	}
	if st.Size() == 0 {
		rep.Intact = true
		return rep, nil
	}
	_, damage, err := diagnose(path, st.Size())
	if nf := (*newerFormat)(nil); errors.As(err, &nf) {
		// The operator chose to set the newer release's file aside.
		damage = fmt.Errorf("written by a newer Tocsin (format %d; this binary reads up to %d)", nf.version, formatVersion)
		err = nil
	}
	if err != nil {
		return rep, fmt.Errorf("recover outbox: %w", err)
	}
	if damage == nil {
		rep.Intact = true
		return rep, nil
	}
	rep.Problem = damage.Error()

	f, err := fsafe.OpenFile(path, os.O_RDONLY, 0, fsafe.State)
	if err != nil {
		return rep, fmt.Errorf("recover outbox %s: %w", path, err)
	}
	defer f.Close() // releases the lock
	if err := boltsalvage.LockFile(f); errors.Is(err, boltsalvage.ErrWouldBlock) {
		return rep, fmt.Errorf("recover outbox: %w", lockedError(path))
	} else if err != nil {
		return rep, fmt.Errorf("recover outbox %s: lock: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return rep, fmt.Errorf("recover outbox %s: read: %w", path, err)
	}
	sal := salvage(data)

	tmp, err := writeSalvaged(path, sal.entries)
	if err != nil {
		return rep, fmt.Errorf("recover outbox %s: write the new file: %w", path, err)
	}
	rep.MovedTo, err = boltsalvage.Replace(path, tmp, time.Now())
	if err != nil {
		return rep, fmt.Errorf("recover outbox %s: %w", path, err)
	}
	rep.Kept = len(sal.entries)
	for _, e := range sal.entries {
		if e.State == Dead {
			rep.Dead++
		} else {
			rep.Pending++
		}
	}
	rep.Lost, rep.Scanned, rep.MaybeStale = sal.lost, sal.scanned, sal.maybeStale
	rep.Damage = sal.damage
	return rep, nil
}

// writeSalvaged writes entries to a new outbox file beside path and
// returns its name.
func writeSalvaged(path string, entries []*Entry) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".recover-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_ = f.Close()
	fail := func(err error) (string, error) {
		_ = os.Remove(tmp)
		return "", err
	}
	db, err := openBolt(tmp, false, false)
	if err != nil {
		return fail(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initBuckets(tx, false); err != nil {
			return err
		}
		b, err := txBuckets(tx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			rec, err := encodeEntry(e)
			if err != nil {
				return err
			}
			if err := b.put(e, rec, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	return tmp, nil
}
