package outbox

import (
	"context"
	"testing"
)

func TestEnqueueWithMarks_StoresEntriesAndMarksTogether(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	if m, err := o.Marks(); err != nil || len(m) != 0 {
		t.Fatalf("a new outbox has marks %v, %v", m, err)
	}
	if err := o.EnqueueWithMarks(ctx, []Mark{{Name: "r1", Seq: 1, Data: []byte("state 1")}, {Name: "r2", Seq: 7}}, newEntry("a"), newEntry("b")); err != nil {
		t.Fatal(err)
	}
	if err := o.EnqueueWithMarks(ctx, []Mark{{Name: "r1", Seq: 2, Data: []byte("state 2")}}, newEntry("c")); err != nil {
		t.Fatal(err)
	}
	o = reopen(t, o)
	marks, err := o.Marks()
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 2 || marks["r1"].Seq != 2 || string(marks["r1"].Data) != "state 2" || marks["r2"].Seq != 7 || len(marks["r2"].Data) != 0 {
		t.Errorf("marks = %+v, want r1 at 2 with \"state 2\" and r2 at 7", marks)
	}
	got, err := o.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("%d entries, want 3", len(got))
	}
}

func TestEnqueueWithMarks_NothingStoredOnError(t *testing.T) {
	o, _, _ := openTest(t)
	ctx := context.Background()
	bad := newEntry("bad")
	bad.State = Dead
	if err := o.EnqueueWithMarks(ctx, []Mark{{Name: "r1", Seq: 1}}, newEntry("a"), bad); err == nil {
		t.Fatal("an entry in state dead was accepted")
	}
	if err := o.EnqueueWithMarks(ctx, []Mark{{Name: "", Seq: 1}}, newEntry("a")); err == nil {
		t.Fatal("a mark without a name was accepted")
	}
	// A closed outbox stores neither.
	_ = o.Close()
	if err := o.EnqueueWithMarks(ctx, []Mark{{Name: "r1", Seq: 1}}, newEntry("a")); err == nil {
		t.Fatal("a closed outbox took entries")
	}
	o = reopen(t, o)
	if m, err := o.Marks(); err != nil || len(m) != 0 {
		t.Errorf("marks %v, %v after failed enqueues, want none", m, err)
	}
	if got, _ := o.List(""); len(got) != 0 {
		t.Errorf("%d entries after failed enqueues, want 0", len(got))
	}
}
