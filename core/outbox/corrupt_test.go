package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// dataset is an outbox file built for damage tests and the entries it
// holds (by ID), plus the IDs that were sent (Done) on the way.
type dataset struct {
	path string
	size int64
	live map[string]*Entry
	sent map[string]bool
}

// buildDataset writes an outbox of the given kind:
//   - "tiny": 3 small entries, so the buckets are inline in the root page;
//   - "many": 1,500 entries of 700 bytes, a tree of several levels, with
//     entries sent and saved on the way (free pages that hold old data);
//   - "attachments": 24 entries with 40 KB attachments (overflow pages).
//
// Each kind is built once; every call gets a copy of its file.
func buildDataset(t *testing.T, kind string) dataset {
	t.Helper()
	d := func() dataset {
		datasetsMu.Lock()
		defer datasetsMu.Unlock()
		d, ok := datasets[kind]
		if !ok {
			d = writeDataset(t, kind)
			datasets[kind] = d
		}
		return d
	}()
	data, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	d.path = filepath.Join(t.TempDir(), "outbox.db")
	writeFile(t, d.path, data)
	return d
}

// datasets are the files buildDataset has written, by kind.
var (
	datasetsMu sync.Mutex
	datasets   = make(map[string]dataset)
)

// writeDataset writes the dataset of the given kind in a directory of its
// own, removed when the tests end (see TestMain).
func writeDataset(t *testing.T, kind string) dataset {
	dir, err := os.MkdirTemp("", "outbox-dataset-")
	if err != nil {
		t.Fatal(err)
	}
	datasetDirs = append(datasetDirs, dir)
	path := filepath.Join(dir, "outbox.db")
	o, err := Open(path, Options{Now: (&clock{now: t0}).Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := dataset{path: path, live: make(map[string]*Entry), sent: make(map[string]bool)}
	var all []*Entry
	switch kind {
	case "tiny":
		for i := 0; i < 3; i++ {
			all = append(all, &Entry{ID: fmt.Sprintf("t%d@x", i), Via: []string{"smtp"}, Mail: Mail{Subject: "s", To: []sdk.Address{{Address: "a@x"}}}})
		}
	case "many":
		for i := 0; i < 1500; i++ {
			e := newEntry(fmt.Sprintf("m%04d@x", i))
			e.Mail.Text, e.Mail.HTML = mailText[:300], ""
			all = append(all, e)
		}
	case "attachments":
		for i := 0; i < 24; i++ {
			e := newEntry(fmt.Sprintf("a%02d@x", i))
			e.Mail.Attachments = []sdk.Attachment{{Filename: "log.txt", Data: bytes.Repeat([]byte{byte(i), 0xff, '\n'}, 40_000/3)}}
			all = append(all, e)
		}
	default:
		t.Fatalf("unknown dataset %q", kind)
	}
	for i := 0; i < len(all); i += 100 {
		mustEnqueue(t, o, all[i:min(i+100, len(all))]...)
	}
	if kind == "many" {
		// Send some, fail some (saved with one more attempt each time).
		var done []string
		for i := 0; i < len(all); i += 7 {
			done = append(done, all[i].ID)
			d.sent[all[i].ID] = true
		}
		if err := o.Done(ctx, done...); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 3; round++ {
			var saved []*Entry
			for i := 1; i < len(all); i += 5 {
				if e := all[i]; !d.sent[e.ID] {
					e.Attempts++
					e.TotalAttempts++
					e.Last = &Attempt{At: t0, Transport: "graph", Kind: "temporary", Error: fmt.Sprintf("round %d", round)}
					if round == 2 && i%3 == 0 {
						e.State = Dead
					}
					saved = append(saved, e)
				}
			}
			if err := o.Save(ctx, saved...); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range all {
		if !d.sent[e.ID] {
			d.live[e.ID] = e
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d.size = st.Size()
	return d
}

// damage is one way to break an outbox file.
type damage struct {
	name string
	do   func(t *testing.T, d dataset)
}

// Damages to whole files.
var (
	garbage = damage{"garbage", func(t *testing.T, d dataset) {
		writeFile(t, d.path, []byte(strings.Repeat("this is not a database\n", 1000)))
	}}
	shortGarbage = damage{"short garbage", func(t *testing.T, d dataset) {
		writeFile(t, d.path, []byte("x"))
	}}
	truncatedHalf = damage{"truncated to half", func(t *testing.T, d dataset) {
		if err := os.Truncate(d.path, d.size/2); err != nil {
			t.Fatal(err)
		}
	}}
	truncatedThreePages = damage{"truncated to three pages", func(t *testing.T, d dataset) {
		if err := os.Truncate(d.path, 3*4096); err != nil {
			t.Fatal(err)
		}
	}}
	metaZeroed = damage{"meta pages zeroed", func(t *testing.T, d dataset) {
		overwrite(t, d.path, 0, make([]byte, 2*4096))
	}}
	freelistScribbled = damage{"freelist page scribbled", func(t *testing.T, d dataset) {
		overwrite(t, d.path, int64(currentMeta(t, d.path).freelist)*4096, bytes.Repeat([]byte{0x42}, 64))
	}}
	dataScribbled = damage{"data pages scribbled", func(t *testing.T, d dataset) {
		junk := bytes.Repeat([]byte("\xff\x13\x37"), int(d.size/3))
		overwrite(t, d.path, 2*4096, junk[:d.size-2*4096])
	}}
	branchScribbled = damage{"the entries' root page scribbled", func(t *testing.T, d dataset) {
		overwrite(t, d.path, int64(entriesRoot(t, d.path))*4096+8, bytes.Repeat([]byte{0x42}, 64))
	}}
	badRecord = damage{"a record that does not decode", func(t *testing.T, d dataset) {
		putRaw(t, d.path, entriesBucket, firstLive(d), []byte(`{"id": "broken`))
	}}
	wrongKey = damage{"an entry under another ID", func(t *testing.T, d dataset) {
		b, _ := encodeEntry(d.live[firstLive(d)])
		putRaw(t, d.path, entriesBucket, "elsewhere@x", b)
	}}
	unknownState = damage{"an entry in an unknown state", func(t *testing.T, d dataset) {
		id := firstLive(d)
		b, _ := encodeEntry(d.live[id])
		putRaw(t, d.path, entriesBucket, id, bytes.Replace(b, []byte(`"state":"pending"`), []byte(`"state":"sent"`), 1))
	}}
	notOutbox = damage{"another bbolt database", func(t *testing.T, d dataset) {
		if err := os.Remove(d.path); err != nil {
			t.Fatal(err)
		}
		putRaw(t, d.path, []byte("rule_state"), "disk_full", []byte(`{"v":1}`))
	}}
	noVersion = damage{"no format version", func(t *testing.T, d dataset) {
		deleteRaw(t, d.path, metaBucket, string(versionKey))
	}}
)

func TestOpen_RefusesDamagedFile(t *testing.T) {
	for _, dmg := range []damage{garbage, shortGarbage, truncatedHalf, truncatedThreePages, metaZeroed,
		freelistScribbled, dataScribbled, branchScribbled, badRecord, wrongKey, unknownState, notOutbox, noVersion} {
		t.Run(dmg.name, func(t *testing.T) {
			t.Parallel()
			d := buildDataset(t, "many")
			dmg.do(t, d)
			before, _ := os.ReadFile(d.path)
			o, err := Open(d.path, Options{ConfigPath: "/etc/tocsin/tocsin.hcl"})
			if err == nil {
				all, lerr := o.List("")
				_ = o.Close()
				t.Fatalf("Open accepted a damaged file (List: %d entries, %v)", len(all), lerr)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			for _, w := range []string{d.path, "`tocsin outbox recover -config /etc/tocsin/tocsin.hcl`", d.path + ".corrupt-", "empty queue"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after, _ := os.ReadFile(d.path); !bytes.Equal(before, after) {
				t.Error("Open modified the damaged file")
			}
			// The lock was released: a second attempt fails the same way,
			// not with a lock timeout.
			if _, err := Open(d.path, Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("second attempt: %v", err)
			}
		})
	}
}

func TestRecover(t *testing.T) {
	// keep says what must survive: "all" live entries exactly, "all but
	// one", or "some" (at least one). Each kept entry must be as stored
	// or, when the report says MaybeStale, an older version or one that
	// was sent.
	tests := []struct {
		data    string
		dmg     damage
		keep    string
		scanned string // "yes", "no", or "any"
	}{
		{"tiny", badRecord, "all but one", "no"},
		{"tiny", metaZeroed, "all", "yes"},
		{"tiny", unknownState, "all but one", "no"},
		{"many", badRecord, "all but one", "no"},
		{"many", wrongKey, "all", "no"},
		{"many", freelistScribbled, "all", "no"},
		{"many", branchScribbled, "all", "yes"},
		{"many", metaZeroed, "all", "yes"},
		{"many", truncatedHalf, "some", "any"},
		{"many", garbage, "none", "no"},
		{"many", dataScribbled, "none", "no"},
		{"attachments", badRecord, "all but one", "no"},
		{"attachments", metaZeroed, "all", "yes"},
		{"attachments", truncatedHalf, "some", "any"},
	}
	for _, tt := range tests {
		t.Run(tt.data+"/"+tt.dmg.name, func(t *testing.T) {
			t.Parallel()
			d := buildDataset(t, tt.data)
			tt.dmg.do(t, d)
			damaged, _ := os.ReadFile(d.path)
			rep, err := Recover(d.path)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			t.Logf("%s", rep)
			if rep.Intact || rep.Problem == "" || !strings.HasPrefix(rep.MovedTo, d.path+".corrupt-") {
				t.Fatalf("report %+v", rep)
			}
			if moved, _ := os.ReadFile(rep.MovedTo); !bytes.Equal(moved, damaged) {
				t.Fatal("the damaged file was not moved aside intact")
			}
			o, err := Open(d.path, Options{})
			if err != nil {
				t.Fatalf("Open after Recover: %v", err)
			}
			defer o.Close()
			kept, err := o.List("")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kept != len(kept) || rep.Pending+rep.Dead != rep.Kept {
				t.Fatalf("report says %d kept (%d+%d), the file holds %d", rep.Kept, rep.Pending, rep.Dead, len(kept))
			}
			if st, _ := o.Stats(); st.Pending != rep.Pending || st.Dead != rep.Dead {
				t.Fatalf("Stats %+v, report %d pending %d dead", st, rep.Pending, rep.Dead)
			}
			if tt.scanned != "any" && (tt.scanned == "yes") != (rep.Scanned > 0) {
				t.Errorf("Scanned = %d", rep.Scanned)
			}
			var resent int
			for _, e := range kept {
				want, ok := d.live[e.ID]
				switch {
				case ok && rep.MaybeStale && e.TotalAttempts < want.TotalAttempts:
					// An old version, from a page that may be free.
				case ok && !reflect.DeepEqual(e, want):
					t.Errorf("kept %s differs from what was stored: attempts %d/%d total %d/%d state %s/%s", e.ID, e.Attempts, want.Attempts, e.TotalAttempts, want.TotalAttempts, e.State, want.State)
				case !ok && d.sent[e.ID] && rep.MaybeStale:
					resent++
				case !ok:
					t.Errorf("kept %s, which was never live", e.ID)
				}
			}
			live := len(kept) - resent
			switch tt.keep {
			case "all":
				if live != len(d.live) {
					t.Errorf("kept %d of %d live entries", live, len(d.live))
				}
			case "all but one":
				if live != len(d.live)-1 || len(rep.Lost) != 1 || rep.Lost[0] != quoteKey([]byte(firstLive(d))) {
					t.Errorf("kept %d of %d live entries, lost %v", live, len(d.live), rep.Lost)
				}
			case "some":
				if live == 0 || live >= len(d.live) {
					t.Errorf("kept %d of %d live entries", live, len(d.live))
				}
			case "none":
				if live != 0 {
					t.Errorf("kept %d entries", live)
				}
			}
			if rep.Scanned == 0 && rep.MaybeStale {
				t.Error("MaybeStale without a scan")
			}
			// The new file is sound.
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if rep2, err := Recover(d.path); err != nil || !rep2.Intact {
				t.Errorf("second Recover: %+v, %v", rep2, err)
			}
		})
	}
}

func TestRecover_IntactAndRefusals(t *testing.T) {
	t.Parallel() // waits for a lock timeout
	d := buildDataset(t, "tiny")
	before, _ := os.ReadFile(d.path)
	rep, err := Recover(d.path)
	if err != nil || !rep.Intact || !strings.Contains(rep.String(), "intact") {
		t.Fatalf("Recover of a sound file = %+v, %v", rep, err)
	}
	after, _ := os.ReadFile(d.path)
	matches, _ := filepath.Glob(d.path + ".corrupt-*")
	if !bytes.Equal(before, after) || len(matches) != 0 {
		t.Fatal("Recover touched a sound file")
	}

	if _, err := Recover(filepath.Join(t.TempDir(), "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Recover of a missing file = %v", err)
	}

	o, err := Open(d.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(d.path); !errors.Is(err, ErrLocked) {
		t.Errorf("Recover of a file in use = %v", err)
	}
	_ = o.Close()

	// A newer release's file is set aside on the operator's word, with
	// the entries this binary can read.
	want, _ := Open(d.path, Options{})
	entries, _ := want.List("")
	_ = want.Close()
	putRaw(t, d.path, metaBucket, string(versionKey), []byte("2"))
	rep, err = Recover(d.path)
	if err != nil || rep.Intact || rep.Kept != len(entries) || rep.Kept == 0 || !strings.Contains(rep.Problem, "written by a newer Tocsin (format 2; this binary reads up to 1)") {
		t.Errorf("Recover of a newer file = %+v, %v; want %d entries kept", rep, err, len(entries))
	}
	if o, err := Open(d.path, Options{}); err != nil {
		t.Errorf("Open after recovering a newer file: %v", err)
	} else {
		_ = o.Close()
	}
}

func TestRecover_MovesAsideTwice(t *testing.T) {
	// Two recoveries within a second get distinct names.
	d := buildDataset(t, "tiny")
	var moved []string
	for i := 0; i < 2; i++ {
		badRecord.do(t, d)
		rep, err := Recover(d.path)
		if err != nil {
			t.Fatal(err)
		}
		moved = append(moved, rep.MovedTo)
	}
	matches, _ := filepath.Glob(d.path + ".corrupt-*")
	if len(matches) != 2 || moved[0] == moved[1] {
		t.Fatalf("damaged copies %v, reported %v", matches, moved)
	}
}

func TestOpen_NewerFormat(t *testing.T) {
	d := buildDataset(t, "tiny")
	putRaw(t, d.path, metaBucket, string(versionKey), []byte("7"))
	_, err := Open(d.path, Options{})
	if !errors.Is(err, ErrNewerFormat) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v", err)
	}
	for _, w := range []string{d.path, "written by a newer Tocsin (format 7; this binary reads up to 1)",
		"install that version or newer", "tocsin outbox recover -config"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestOpen_RebuildsIndexes(t *testing.T) {
	d := buildDataset(t, "tiny")
	db, err := bolt.Open(d.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(dueBucket); err != nil {
			return err
		}
		return tx.Bucket(statesBucket).Put(stateKey(Dead, t0, "stale@x"), nil)
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	o, err := Open(d.path, Options{Now: (&clock{now: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if due, states, ok := indexCounts(t, o); due != 3 || states != 3 || !ok {
		t.Fatalf("after Open: due %d states %d consistent %v", due, states, ok)
	}
	if got, _, _ := o.Due(0); len(got) != 3 {
		t.Fatalf("Due = %v", ids(got))
	}
}

func TestOpen_EmptyFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	writeFile(t, path, nil)
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if st, err := o.Stats(); err != nil || st != (Stats{}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
}

// firstLive is the smallest live ID of d.
func firstLive(d dataset) string {
	first := ""
	for id := range d.live {
		if first == "" || id < first {
			first = id
		}
	}
	return first
}

// putRaw writes key=value into bucket of the bbolt file at path, past the
// outbox's checks.
func putRaw(t *testing.T, path string, bucket []byte, key string, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	}); err != nil {
		t.Fatal(err)
	}
}

// deleteRaw deletes key from bucket of the bbolt file at path.
func deleteRaw(t *testing.T, path string, bucket []byte, key string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) }); err != nil {
		t.Fatal(err)
	}
}

// currentMeta returns the meta page bbolt uses in the file at path.
func currentMeta(t *testing.T, path string) boltMeta {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &salvager{data: data}
	m, ok := s.findMeta()
	if !ok || s.pageSize != 4096 {
		t.Fatalf("meta: %v, page size %d", ok, s.pageSize)
	}
	return m
}

// entriesRoot returns the root page of the entries bucket of the file at
// path, which must be a branch page.
func entriesRoot(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int
	_ = db.View(func(tx *bolt.Tx) error {
		id = int(tx.Bucket(entriesBucket).Root())
		p, err := tx.Page(id)
		if err != nil || p == nil || p.Type != "branch" {
			t.Fatalf("the entries root page %d is %+v, %v", id, p, err)
		}
		return nil
	})
	return id
}

// writeFile writes b to path or fails the test.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// overwrite writes b at offset off of path or fails the test.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
