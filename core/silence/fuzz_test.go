package silence

import (
	"errors"
	"os"
	"testing"
	"time"
)

// FuzzOpen: whatever the silences file holds, Open neither panics nor
// keeps what it cannot read: it gives the silences or an error wrapping
// ErrCorrupt (with the file moved aside), and what it gives can be asked
// what it covers.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"version":1,"silences":[{"id":"a1","rule":"disk","comment":"x","by":"ops","start":"2026-12-06T10:00:00Z","end":"2026-12-06T12:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"silences":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"silences":[{"id":"","end":"2026-12-06T12:00:00Z"}]}`))
	f.Add([]byte(`not json`))
	now := time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(Path(dir), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, now)
		if s == nil {
			t.Fatal("Open returned no store")
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if len(s.List()) != 0 {
				t.Fatalf("a file that could not be read left %d silences", len(s.List()))
			}
			if _, serr := os.Stat(Path(dir)); !os.IsNotExist(serr) {
				t.Fatalf("the unreadable file was not moved aside: %v", serr)
			}
			return
		}
		for _, sil := range s.List() {
			if sil.ID == "" || sil.End.IsZero() || sil.Start.IsZero() {
				t.Fatalf("kept a silence without ID, start or end: %+v", sil)
			}
			_ = sil.Target()
			_ = sil.Active(now)
			_ = sil.Covers("disk", "node-a", "daily_heartbeat")
		}
		_ = s.Active(now)
		_ = s.Ended(now)
	})
}

// FuzzValidate: a silence request, as the admin API decodes it, is
// refused or gives a duration within the bounds for exactly one target.
func FuzzValidate(f *testing.F) {
	f.Add("disk", "", false, "maintenance", "ops", "2h")
	f.Add("", "node-a", false, "x", "ops", "168h")
	f.Add("", "", true, "x", "ops", "1m")
	f.Add("a", "b", true, "", "", "-5m")
	f.Fuzz(func(t *testing.T, rule, node string, all bool, comment, by, dur string) {
		r := Request{Rule: rule, Node: node, All: all, Comment: comment, By: by, For: dur}
		d, err := r.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if d < MinDuration || d > MaxDuration {
			t.Fatalf("accepted %s, out of %s", d, Bounds())
		}
		n := 0
		for _, set := range []bool{rule != "", node != "", all} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("accepted %d targets", n)
		}
	})
}
