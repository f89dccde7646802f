package rules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/core/boltsalvage"
)

// StoreReport says what RecoverStore found and did.
type StoreReport struct {
	// Path is the state file.
	Path string
	// Intact is set when nothing was wrong: the file was left as it was.
	Intact bool
	// Problem is why OpenStore refused the file.
	Problem string
	// MovedTo is where the damaged file now is (path.corrupt-<time>).
	MovedTo string
	// Kept counts the rule states written to the new file at Path;
	// Firing names the rules among them that were firing, whose alerts
	// the agent will not send again.
	Kept   int
	Firing []string
	// Lost holds the names (quoted) of rules whose records were found but
	// did not decode. Records on pages that are gone (a truncated file)
	// leave no trace and are not listed: those rules start afresh.
	Lost []string
	// Scanned counts the kept states found on pages the database's tree
	// no longer reaches.
	Scanned int
	// MaybeStale is set when the scan could not tell free pages from live
	// ones: a kept state may be an older version, or of a rule removed
	// since (which the agent ignores).
	MaybeStale bool
	// Damage lists what was found wrong inside the file.
	Damage []string
}

// String is the report for the operator.
func (r StoreReport) String() string {
	if r.Intact {
		return fmt.Sprintf("rule state %s is intact: nothing to recover", r.Path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule state %s was damaged: %s\n", r.Path, r.Problem)
	fmt.Fprintf(&b, "moved it to %s (keep it until the agent runs well again)\n", r.MovedTo)
	fmt.Fprintf(&b, "kept the states of %d rules in a new %s", r.Kept, r.Path)
	if len(r.Firing) > 0 {
		fmt.Fprintf(&b, "; firing, and not notified again: %s", strings.Join(r.Firing, ", "))
	}
	b.WriteString("\n")
	if len(r.Lost) > 0 {
		fmt.Fprintf(&b, "lost the states of %d rules that did not decode (they start afresh and notify again if their condition holds): %s\n", len(r.Lost), strings.Join(r.Lost, ", "))
	}
	if r.Scanned > 0 {
		fmt.Fprintf(&b, "%d of the kept states were found on pages the database no longer reached\n", r.Scanned)
	}
	if r.MaybeStale {
		b.WriteString("warning: free pages could not be told from live ones: a kept state may be an older one (the newest found was kept)\n")
	}
	for _, d := range r.Damage {
		fmt.Fprintf(&b, "damage: %s\n", d)
	}
	b.WriteString("rules whose state was on pages that are gone start afresh: the agent notifies them again if their condition holds")
	return b.String()
}

// RecoverStore salvages the state file at path after OpenStore refused it
// as damaged, or as written by a newer tocsin. It reads every rule state
// it still can (the newest copy of each found), writes them to a new file,
// moves the damaged one aside to path.corrupt-<time> (UTC,
// 20060102T150405Z) and puts the new file in its place; at every moment
// path holds either the old file or the complete new one. The agent must
// not run: a file another process holds is refused with ErrStoreLocked. A
// file that OpenStore accepts is left as it is (StoreReport.Intact).
func RecoverStore(path string) (StoreReport, error) {
	rep := StoreReport{Path: path}
	st, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("recover rule state %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return rep, fmt.Errorf("recover rule state %s: not a regular file", path)
	}
	if st.Size() == 0 {
		rep.Intact = true
		return rep, nil
	}
	err = diagnoseStore(path, st.Size())
	var se *StoreError
	switch {
	case err == nil:
		rep.Intact = true
		return rep, nil
	case errors.As(err, &se) && errors.Is(se.Err, ErrStoreNewer):
		rep.Problem = fmt.Sprintf("%v (format %d; this binary reads up to %d)", ErrStoreNewer, se.Format, storeFormat)
	case errors.As(err, &se):
		rep.Problem = se.Cause.Error()
	default:
		return rep, fmt.Errorf("recover rule state: %w", err)
	}

	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("recover rule state %s: %w", path, err)
	}
	defer f.Close() // releases the lock
	if err := boltsalvage.LockFile(f); errors.Is(err, boltsalvage.ErrWouldBlock) {
		return rep, fmt.Errorf("recover rule state %s: %w (stop the agent first)", path, ErrStoreLocked)
	} else if err != nil {
		return rep, fmt.Errorf("recover rule state %s: lock: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return rep, fmt.Errorf("recover rule state %s: read: %w", path, err)
	}
	sal := salvage(data)

	tmp, err := writeSalvaged(path, sal.states)
	if err != nil {
		return rep, fmt.Errorf("recover rule state %s: write the new file: %w", path, err)
	}
	rep.MovedTo, err = boltsalvage.Replace(path, tmp, time.Now())
	if err != nil {
		return rep, fmt.Errorf("recover rule state %s: %w", path, err)
	}
	rep.Kept = len(sal.states)
	for name, s := range sal.states {
		if s.Phase == Firing {
			rep.Firing = append(rep.Firing, name)
		}
	}
	sort.Strings(rep.Firing)
	rep.Lost, rep.Scanned, rep.MaybeStale = sal.lost, sal.scanned, sal.maybeStale
	rep.Damage = sal.damage
	return rep, nil
}

// writeSalvaged writes states to a new state file beside path and returns
// its name.
func writeSalvaged(path string, states map[string]State) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".recover-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_ = f.Close()
	s, err := OpenStore(tmp)
	if err == nil {
		err = s.SaveMany(states)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}
