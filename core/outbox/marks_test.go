package outbox

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
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

// TestEnqueueWithMarks_NoMarkWhenEntriesFail: when storing the entries
// fails inside the transaction, the marks are not stored either, so that
// after a crash the agent never takes a hand-off for done whose alerts the
// outbox does not hold.
func TestEnqueueWithMarks_NoMarkWhenEntriesFail(t *testing.T) {
	o, _, _ := openTest(t)
	// Remove an index bucket: storing an entry now fails in the
	// transaction, after the checks EnqueueWithMarks makes up front.
	if err := o.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(dueBucket) }); err != nil {
		t.Fatal(err)
	}
	if err := o.EnqueueWithMarks(context.Background(), []Mark{{Name: "r1", Seq: 1}}, newEntry("a")); err == nil {
		t.Fatal("EnqueueWithMarks succeeded although the entries could not be stored")
	}
	if m, err := o.Marks(); err != nil || len(m) != 0 {
		t.Fatalf("marks %v, %v after the entries failed, want none", m, err)
	}
}
