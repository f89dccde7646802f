package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Transport names the hop being tried, and "" once the chain is used up
// (the dispatcher dead-letters the entry then) or for a hop that makes no
// sense.
func TestEntry_Transport(t *testing.T) {
	via := []string{"graph", "smtp-backup", "ntfy"}
	tests := []struct {
		hop  int
		via  []string
		want string
	}{
		{-1, via, ""},
		{0, via, "graph"},
		{1, via, "smtp-backup"},
		{2, via, "ntfy"},
		{3, via, ""},
		{0, nil, ""},
	}
	for _, tt := range tests {
		e := &Entry{Via: tt.via, Hop: tt.hop}
		if got := e.Transport(); got != tt.want {
			t.Errorf("hop %d of %v: Transport = %q, want %q", tt.hop, tt.via, got, tt.want)
		}
	}
}

// The index layout is part of format 1: the file an earlier release wrote
// holds exactly the index keys today's code expects, so opening it does
// not need to rebuild them. A change of the key encoding must come with a
// new format and its migration.
func TestFixtures_IndexesAsTodaysCodeWritesThem(t *testing.T) {
	path := openFixture(t, formatVersion)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		ok, err := checkEntries(tx)
		if err == nil && !ok {
			err = errors.New("its indexes differ from what today's code writes")
		}
		return err
	}); err != nil {
		t.Fatalf("fixture %s: %v", fixtureName(formatVersion), err)
	}
}

// Open rebuilds an index that holds a key no entry calls for, wherever it
// sorts (here after every real key), in either index, and whichever index
// is the stale one; it does not refuse the file.
func TestOpen_RebuildsIndexWithExtraKeyAtTheEnd(t *testing.T) {
	late := t0.Add(24 * time.Hour)
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
	}{
		{"states: a pending ghost", statesBucket, stateKey(Pending, late, "zz-ghost@x")},
		{"states: a dead ghost", statesBucket, stateKey(Dead, late, "zz-ghost@x")},
		{"due: a ghost", dueBucket, dueKey(late, "zz-ghost@x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := buildDataset(t, "tiny")
			putRaw(t, d.path, tt.bucket, string(tt.key), nil)
			o, err := Open(d.path, Options{Now: (&clock{now: late.Add(time.Hour)}).Now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer o.Close()
			if due, states, ok := indexCounts(t, o); due != 3 || states != 3 || !ok {
				t.Fatalf("after Open: due %d states %d consistent %v; want 3, 3, true", due, states, ok)
			}
			if st, err := o.Stats(); err != nil || st.Pending != 3 || st.Dead != 0 {
				t.Errorf("Stats = %+v, %v; want 3 pending", st, err)
			}
			if got, _, err := o.Due(0); err != nil || len(got) != 3 {
				t.Errorf("Due = %v, %v; want the 3 entries", ids(got), err)
			}
		})
	}
}

// A file whose bucket went missing under an open outbox (removed by hand)
// gives every call an error that says so, not a crash report.
func TestOutbox_MissingBucketNamed(t *testing.T) {
	for _, name := range [][]byte{entriesBucket, dueBucket, statesBucket} {
		t.Run(string(name), func(t *testing.T) {
			o, _, _ := openTest(t)
			ctx := context.Background()
			a := newEntry("a@x")
			mustEnqueue(t, o, a)
			if err := o.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(name) }); err != nil {
				t.Fatal(err)
			}
			_, _, dueErr := o.Due(0)
			_, listErr := o.List("")
			_, statsErr := o.Stats()
			_, getErr := o.Get("a@x")
			for call, err := range map[string]error{
				"Enqueue": o.Enqueue(ctx, newEntry("b@x")),
				"Save":    o.Save(ctx, a),
				"Done":    o.Done(ctx, "a@x"),
				"Retry":   o.Retry(ctx, "a@x"),
				"Drop":    o.Drop(ctx, "a@x"),
				"Due":     dueErr,
				"List":    listErr,
				"Stats":   statsErr,
				"Get":     getErr,
			} {
				if err == nil || !strings.Contains(err.Error(), "the outbox buckets are missing") {
					t.Errorf("%s = %v; want it to say the buckets are missing", call, err)
				}
			}
		})
	}
}

// Pages that neither the tree nor the freelist accounts for are damage
// that Open refuses; the error gives bbolt's first problem and how many
// more it found, so that one problem reads as one.
func TestOpen_CountsPageProblems(t *testing.T) {
	for _, tt := range []struct {
		leaked int
		more   string // what the error says past the first problem
	}{
		{1, ""},
		{3, " (and 2 more problems)"},
	} {
		t.Run(fmt.Sprint(tt.leaked), func(t *testing.T) {
			d := buildDataset(t, "many")
			// Drop the last tt.leaked IDs of the freelist page by lowering its
			// count: those pages are now neither free nor reachable.
			off := int64(currentMeta(t, d.path).freelist) * pageSize
			data, err := os.ReadFile(d.path)
			if err != nil {
				t.Fatal(err)
			}
			flags, count := binary.LittleEndian.Uint16(data[off+8:]), binary.LittleEndian.Uint16(data[off+10:])
			if flags != 0x10 || count < uint16(tt.leaked) || count == 0xffff {
				t.Fatalf("freelist page: flags %#x, count %d", flags, count)
			}
			overwrite(t, d.path, off+10, binary.LittleEndian.AppendUint16(nil, count-uint16(tt.leaked)))

			_, err = Open(d.path, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v; want ErrCorrupt", err)
			}
			msg := err.Error()
			i := strings.Index(msg, "unreachable unfreed")
			if i < 0 {
				t.Fatalf("error %q does not give bbolt's problem", msg)
			}
			rest := msg[i+len("unreachable unfreed"):]
			if !strings.HasPrefix(rest, tt.more+";") {
				t.Errorf("error %q: after the first problem, want %q", msg, tt.more)
			}
		})
	}
}

// A file that ends exactly where its last page ends (its size is what the
// meta page calls for, as after a copy that dropped the preallocated
// tail) is sound and opens with every entry; one page less is truncated.
func TestOpen_FileEndingAtItsLastPage(t *testing.T) {
	d := buildDataset(t, "tiny")
	db, err := bolt.Open(d.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	_ = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	_ = db.Close()
	if size >= d.size {
		t.Fatalf("the data ends at %d bytes, the file is %d: nothing to cut", size, d.size)
	}
	if err := os.Truncate(d.path, size); err != nil {
		t.Fatal(err)
	}
	o, err := Open(d.path, Options{})
	if err != nil {
		t.Fatalf("Open of a file of exactly %d bytes: %v", size, err)
	}
	if all, err := o.List(""); err != nil || len(all) != len(d.live) {
		t.Errorf("List = %d entries, %v; want %d", len(all), err, len(d.live))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	short := buildDataset(t, "tiny")
	if err := os.Truncate(short.path, size-pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(short.path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open of a file one page short = %v; want it refused as truncated", err)
	}
}

// Index keys that went bad under an open outbox (written past it) fail
// Due and List with an error that says what is wrong, instead of a wrong
// answer: a due key too short to hold an entry ID, a key naming an entry
// that is not there.
func TestOutbox_BadIndexKeysReported(t *testing.T) {
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
		call   func(o *Outbox) error
		want   string
	}{
		{"due key shorter than a time", dueBucket, []byte("short"), callDue, "due index key 73686f7274 is malformed"},
		{"due key of a time and no ID", dueBucket, putTime(nil, t0), callDue, "is malformed"},
		{"due key naming a missing entry", dueBucket, dueKey(t0, "ghost@x"), callDue, `the due index names entry "ghost@x", which is missing`},
		{"states key naming a missing entry", statesBucket, stateKey(Dead, t0, "ghost@x"), callList, `the states index names entry "ghost@x", which is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _ := openTest(t)
			mustEnqueue(t, o, newEntry("a@x"))
			if err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(tt.bucket).Put(tt.key, nil) }); err != nil {
				t.Fatal(err)
			}
			if err := tt.call(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error with %q", err, tt.want)
			}
		})
	}
}

// callDue and callList call Due and List for their error.
func callDue(o *Outbox) error  { _, _, err := o.Due(0); return err }
func callList(o *Outbox) error { _, err := o.List(""); return err }
