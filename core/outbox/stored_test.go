package outbox

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestEnqueueStored: it returns the entries it stored (the ones passed,
// set up as Enqueue does), leaving out those whose ID the outbox held
// already, with or without marks; a failed enqueue returns none; and
// concurrent callers group-committed together each get their own.
func TestEnqueueStored(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	if err := o.Enqueue(ctx, newEntry("old")); err != nil {
		t.Fatal(err)
	}
	ids := func(es []*Entry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.ID
		}
		return out
	}
	tests := []struct {
		name  string
		marks []Mark
		ids   []string
		want  []string
	}{
		{"new ones", nil, []string{"a", "b"}, []string{"a", "b"}},
		{"one already there", nil, []string{"c", "old", "d"}, []string{"c", "d"}},
		{"with marks", []Mark{{Name: "r1", Seq: 1}}, []string{"e", "a"}, []string{"e"}},
		{"none new", []Mark{{Name: "r1", Seq: 2}}, []string{"b"}, []string{}},
	}
	for _, tt := range tests {
		var es []*Entry
		for _, id := range tt.ids {
			es = append(es, newEntry(id))
		}
		stored, err := o.EnqueueStored(ctx, tt.marks, es...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := ids(stored); !slices.Equal(got, tt.want) {
			t.Errorf("%s: stored %v, want %v", tt.name, got, tt.want)
		}
		for _, e := range stored {
			if !slices.Contains(es, e) || e.State != Pending || e.NextAttempt.IsZero() || e.EnqueuedAt.IsZero() {
				t.Errorf("%s: stored %+v, want the entry passed, set up", tt.name, e)
			}
		}
	}
	if m, _ := o.Marks(); m["r1"].Seq != 2 {
		t.Errorf("mark r1 at %d, want 2", m["r1"].Seq)
	}

	bad := newEntry("bad")
	bad.State = Dead
	if stored, err := o.EnqueueStored(ctx, nil, newEntry("f"), bad); err == nil || stored != nil {
		t.Errorf("an entry in state dead: %v, %v", ids(stored), err)
	}

	// Group-committed at once: each caller gets its own.
	var wg sync.WaitGroup
	for k := range 8 {
		wg.Go(func() {
			es := []*Entry{newEntry(string(rune('p'+k)) + "1"), newEntry(string(rune('p'+k)) + "2"), newEntry("old")}
			stored, err := o.EnqueueStored(ctx, nil, es...)
			if err != nil {
				t.Error(err)
				return
			}
			if got := ids(stored); !slices.Equal(got, []string{es[0].ID, es[1].ID}) {
				t.Errorf("concurrent caller %d: stored %v", k, got)
			}
		})
	}
	wg.Wait()

	_ = o.Close()
	if stored, err := o.EnqueueStored(ctx, nil, newEntry("g")); err == nil || stored != nil {
		t.Errorf("a closed outbox: %v, %v", ids(stored), err)
	}
}

// TestEnqueueStored_marksAlone: marks without entries are stored (a rule
// whose notifications were all silenced still records its hand-off), and
// a failed store says whether it carried marks.
func TestEnqueueStored_marksAlone(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	stored, err := o.EnqueueStored(ctx, []Mark{{Name: "alone", Seq: 3}})
	if err != nil || len(stored) != 0 {
		t.Fatalf("marks alone: %v, %v", stored, err)
	}
	if m, err := o.Marks(); err != nil || m["alone"].Seq != 3 {
		t.Errorf("mark alone = %+v, %v; want stored at 3", m["alone"], err)
	}
	if stored, err := o.EnqueueStored(ctx, nil); err != nil || stored != nil {
		t.Errorf("nothing at all: %v, %v", stored, err)
	}

	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = o.EnqueueStored(ctx, []Mark{{Name: "r", Seq: 1}}, newEntry("x"))
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "1 hand-off marks") {
		t.Errorf("closed, with a mark: %v; want ErrClosed naming the mark", err)
	}
	_, err = o.EnqueueStored(ctx, nil, newEntry("y"))
	if !errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "hand-off") {
		t.Errorf("closed, without marks: %v; want ErrClosed, no marks named", err)
	}
}
