package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Of two copies of an entry found outside the tree, Recover keeps the one
// furthest on: more attempts in all, then the later last attempt (none
// counts as earliest). A copy is not further than an equal one, so the
// first found stays.
func TestFurther(t *testing.T) {
	at := func(total int, last time.Duration) *Entry {
		e := &Entry{ID: "a@x", TotalAttempts: total}
		if last >= 0 {
			e.Last = &Attempt{At: t0.Add(last)}
		}
		return e
	}
	const none = -1
	tests := []struct {
		name string
		a, b *Entry
		want bool
	}{
		{"more attempts", at(3, 0), at(2, time.Hour), true},
		{"fewer attempts", at(2, time.Hour), at(3, 0), false},
		{"same attempts, later last attempt", at(2, time.Minute), at(2, 0), true},
		{"same attempts, earlier last attempt", at(2, 0), at(2, time.Minute), false},
		{"same attempts, a last attempt against none", at(0, 0), at(0, none), true},
		{"same attempts, none against a last attempt", at(0, none), at(0, 0), false},
		{"equal copies", at(2, time.Minute), at(2, time.Minute), false},
		{"both without a last attempt", at(0, none), at(0, none), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := further(tt.a, tt.b); got != tt.want {
				t.Errorf("further = %v, want %v", got, tt.want)
			}
		})
	}
}

// When the new file cannot be written, Recover's writeSalvaged fails and
// leaves no temporary file beside the outbox, so the damaged file stays
// where it is and nothing half-written is left for the next try.
func TestWriteSalvaged_FailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	good := newEntry("good@x")
	good.State, good.EnqueuedAt, good.NextAttempt = Pending, t0, t0
	bad := newEntry(strings.Repeat("x", maxIDLen+1)) // decodes, but is not stored
	bad.State = Pending
	if tmp, err := writeSalvaged(path, []*Entry{good, bad}); err == nil {
		t.Fatalf("writeSalvaged = %s; want an error for an ID of %d bytes", tmp, maxIDLen+1)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
	tmp, err := writeSalvaged(path, []*Entry{good})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(tmp) != dir || !strings.HasPrefix(filepath.Base(tmp), "outbox.db.recover-") {
		t.Errorf("new file %s, want outbox.db.recover-* beside the outbox", tmp)
	}
}
