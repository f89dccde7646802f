package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestOutbox_ConcurrentUse(t *testing.T) {
	// 8 goroutines enqueue while a dispatcher-like loop takes due entries
	// and either sends them (Done), fails them (Save with a later
	// NextAttempt) or kills them (Save as Dead); readers run meanwhile.
	// Nothing is lost, nothing is both sent and still queued.
	o, _, c := openTest(t)
	ctx := context.Background()
	const writers, perWriter = 8, 120

	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
		sent = make(map[string]bool)
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; {
				var batch []*Entry
				for j := 0; j <= i%4 && i < perWriter; j++ {
					batch = append(batch, newEntry(fmt.Sprintf("w%d-%03d@x", w, i)))
					i++
				}
				if err := o.Enqueue(ctx, batch...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	readers := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				readers <- nil
				return
			default:
			}
			if _, err := o.Stats(); err != nil {
				readers <- err
				return
			}
			if _, err := o.List(Dead); err != nil {
				readers <- err
				return
			}
		}
	}()

	dispatched := make(chan error, 1)
	go func() {
		round := 0
		for {
			round++
			c.Set(t0.Add(time.Duration(round) * time.Second))
			due, _, err := o.Due(25)
			if err != nil {
				dispatched <- err
				return
			}
			if len(due) == 0 {
				select {
				case <-stop:
					dispatched <- nil
					return
				default:
					time.Sleep(time.Millisecond)
					continue
				}
			}
			var done []string
			var saved []*Entry
			for i, e := range due {
				switch {
				case e.Attempts >= 2 || i%3 == 0:
					done = append(done, e.ID)
					sent[e.ID] = true
				case i%11 == 5:
					e.State = Dead
					saved = append(saved, e)
				default:
					e.Attempts++
					e.TotalAttempts++
					e.NextAttempt = t0.Add(time.Duration(round+1) * time.Second)
					saved = append(saved, e)
				}
			}
			if err := o.Save(ctx, saved...); err != nil {
				dispatched <- err
				return
			}
			if err := o.Done(ctx, done...); err != nil {
				dispatched <- err
				return
			}
		}
	}()

	wg.Wait()
	close(stop)
	if err := <-dispatched; err != nil {
		t.Fatal(err)
	}
	if err := <-readers; err != nil {
		t.Fatal(err)
	}
	left, err := o.List("")
	if err != nil {
		t.Fatal(err)
	}
	remaining := make(map[string]bool)
	for _, e := range left {
		remaining[e.ID] = true
		if sent[e.ID] {
			t.Errorf("%s was sent and is still queued", e.ID)
		}
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			id := fmt.Sprintf("w%d-%03d@x", w, i)
			if !sent[id] && !remaining[id] {
				t.Errorf("%s was lost", id)
			}
		}
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	due, states, ok := indexCounts(t, o)
	if st.Pending+st.Dead != len(left) || due != st.Pending || states != len(left) || !ok {
		t.Fatalf("stats %+v, %d left, due index %d, states index %d, consistent %v", st, len(left), due, states, ok)
	}
	t.Logf("%d sent, %d pending, %d dead, %d commits", len(sent), st.Pending, st.Dead, o.commits.Load())
}
