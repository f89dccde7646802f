package boltsalvage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const testPageSize = 4096

// testSizes are the page sizes the tests read files with.
var testSizes = []int{testPageSize, 1024, 2048, 8192}

// testFile is a bbolt file made for a test.
type testFile struct {
	path     string
	data     []byte
	things   map[string]string // the records of bucket "things"
	root     uint64            // the root page of bucket "things", a branch page
	freelist uint64            // the freelist page
}

// makeFile writes a bbolt file with 4096-byte pages: bucket "things" with
// enough records for a branch root, and the inline bucket "outer/inner"
// with one record. Every record of "things" was written twice, so that
// free pages hold old copies.
func makeFile(t *testing.T) testFile {
	t.Helper()
	f := testFile{path: filepath.Join(t.TempDir(), "test.db"), things: make(map[string]string)}
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{PageSize: testPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("things"))
			if err != nil {
				return err
			}
			for i := range 200 {
				k := fmt.Sprintf("thing-%03d", i)
				v := fmt.Sprintf(`{"n":%d,"round":%d,"pad":%q}`, i, round, strings.Repeat("x", 80))
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
				f.things[k] = v
			}
			outer, err := tx.CreateBucketIfNotExists([]byte("outer"))
			if err != nil {
				return err
			}
			inner, err := outer.CreateBucketIfNotExists([]byte("inner"))
			if err != nil {
				return err
			}
			return inner.Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.View(func(tx *bolt.Tx) error {
		f.root = uint64(tx.Bucket([]byte("things")).Root())
		p, err := tx.Page(int(f.root))
		if err != nil || p == nil || p.Type != "branch" {
			t.Fatalf("the root of things, page %d, is %+v, %v", f.root, p, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f.data = f.read(t)
	m, size, ok := FindMeta(f.data, testSizes)
	if !ok || size != testPageSize || m.PageSize != testPageSize || m.Freelist == ^uint64(0) {
		t.Fatalf("FindMeta: %+v, page size %d, %v", m, size, ok)
	}
	f.freelist = m.Freelist
	return f
}

// read returns the bytes of the file.
func (f testFile) read(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overwrite returns a copy of data with b written at off.
func overwrite(data []byte, off int, b []byte) []byte {
	out := slices.Clone(data)
	copy(out[off:], b)
	return out
}

// things is the Kind of the records of bucket "things": JSON objects, of
// which the scan keeps the latest round.
var things = Kind[string]{
	Bucket: "things",
	Looks:  func(v []byte) bool { return len(v) > 0 && v[0] == '{' },
	Decode: func(_, v []byte) (string, error) { return string(v), nil },
	Newer:  func(a, b string) bool { return a > b }, // "round":2 sorts after "round":1
}

// inTree returns the records of r the walk reached, by path and key.
func inTree(r Result) map[string]string {
	out := make(map[string]string)
	for _, rec := range r.Records {
		if rec.InTree {
			out[strings.Join(rec.Path, "/")+":"+string(rec.Key)] = string(rec.Value)
		}
	}
	return out
}

// hasProblem reports whether one of r's problems contains s.
func hasProblem(r Result, s string) bool {
	return slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, s) })
}

func TestScan_SoundFile(t *testing.T) {
	f := makeFile(t)
	r := Scan(f.data, Options{PageSizes: testSizes})
	if len(r.Problems) != 0 || r.Dropped != 0 || r.MaybeStale {
		t.Fatalf("problems %q, dropped %d, maybe stale %v", r.Problems, r.Dropped, r.MaybeStale)
	}
	got := inTree(r)
	if len(got) != len(r.Records) || len(got) != len(f.things)+1 {
		t.Fatalf("%d records, %d in the tree; want %d in it", len(r.Records), len(got), len(f.things)+1)
	}
	for k, v := range f.things {
		if got["things:"+k] != v {
			t.Fatalf("things:%s = %q, want %q", k, got["things:"+k], v)
		}
	}
	if got["outer/inner:k"] != "v" {
		t.Fatalf("the inline bucket's record: %q", got["outer/inner:k"])
	}
	found := Collect(r, things)
	if len(found.Records) != len(f.things) || found.Scanned != 0 || found.Lost != nil || found.MaybeStale {
		t.Fatalf("Collect: %d records, %d scanned, lost %q, maybe stale %v", len(found.Records), found.Scanned, found.Lost, found.MaybeStale)
	}
}

func TestScan_Damaged(t *testing.T) {
	f := makeFile(t)
	for _, tc := range []struct {
		name string
		data []byte
		opt  Options
		// problem is part of a problem Scan must report.
		problem string
		// inTree and scanned count the records of "things" Collect keeps
		// from the walk and from the scan; -1 for any number, as long as
		// one is kept.
		inTree, scanned int
		maybeStale      bool
		// round is the round of writes the kept records must be from; 0
		// when the latest.
		round int
		// maybeNone is set where the pages left may hold no record at
		// all (and then nothing to call stale): which pages bbolt
		// allocated first is not fixed.
		maybeNone bool
	}{{
		name: "meta pages zeroed", data: overwrite(f.data, 0, make([]byte, 2*testPageSize)),
		opt:     Options{PageSizes: testSizes, What: "things"},
		problem: "no valid meta page: the whole file is scanned for things",
		inTree:  0, scanned: len(f.things), maybeStale: true,
	}, {
		name: "meta pages zeroed, default words", data: overwrite(f.data, 0, make([]byte, 2*testPageSize)),
		opt:     Options{PageSizes: testSizes},
		problem: "no valid meta page: the whole file is scanned for records",
		inTree:  0, scanned: len(f.things), maybeStale: true,
	}, {
		name: "first meta page zeroed", data: overwrite(f.data, 0, make([]byte, testPageSize)),
		opt:     Options{PageSizes: []int{1024, 2048, testPageSize}},
		problem: "the first meta page is damaged",
		inTree:  len(f.things),
	}, {
		// The second meta page is looked for at the sizes given only.
		name: "first meta page zeroed, page size not tried", data: overwrite(f.data, 0, make([]byte, testPageSize)),
		opt:     Options{PageSizes: []int{1024, 2048}},
		problem: "no valid meta page",
		inTree:  0, scanned: 0, maybeStale: false,
	}, {
		name: "second meta page zeroed", data: overwrite(f.data, testPageSize, make([]byte, testPageSize)),
		opt:     Options{PageSizes: testSizes},
		problem: "the second meta page is damaged",
		// The first one is of the transaction before the last.
		inTree: len(f.things), round: 1,
	}, {
		// The walk completes: no scan, and so nothing stale.
		name: "freelist scribbled", data: overwrite(f.data, int(f.freelist)*testPageSize, bytes.Repeat([]byte{0x42}, 64)),
		opt:     Options{PageSizes: testSizes},
		problem: "freelist: page",
		inTree:  len(f.things),
	}, {
		// The free pages are known: the scan skips the old copies.
		name: "branch root scribbled", data: overwrite(f.data, int(f.root)*testPageSize+8, bytes.Repeat([]byte{0x42}, 64)),
		opt:     Options{PageSizes: testSizes},
		problem: fmt.Sprintf("page %d has flags", f.root),
		inTree:  0, scanned: len(f.things),
	}, {
		name: "freelist and branch root scribbled",
		data: overwrite(overwrite(f.data, int(f.freelist)*testPageSize, bytes.Repeat([]byte{0x42}, 64)),
			int(f.root)*testPageSize+8, bytes.Repeat([]byte{0x42}, 64)),
		opt:     Options{PageSizes: testSizes},
		problem: "freelist: page",
		inTree:  0, scanned: len(f.things), maybeStale: true,
	}, {
		name: "truncated to half", data: f.data[:len(f.data)/2],
		opt:     Options{PageSizes: testSizes},
		problem: "beyond the end of the file",
		inTree:  -1, scanned: -1, maybeStale: true,
	}, {
		name: "truncated to three pages", data: f.data[:3*testPageSize],
		opt:     Options{PageSizes: testSizes},
		problem: "beyond the end of the file",
		inTree:  -1, scanned: -1, maybeStale: true, maybeNone: true,
	}, {
		name: "data pages scribbled", data: overwrite(f.data, 2*testPageSize, bytes.Repeat([]byte("\xff\x13\x37"), len(f.data)/3)[:len(f.data)-2*testPageSize]),
		opt:     Options{PageSizes: testSizes},
		problem: "page",
		inTree:  0, scanned: 0,
	}, {
		name: "garbage", data: []byte(strings.Repeat("this is not a database\n", 1000)),
		opt:        Options{PageSizes: testSizes},
		problem:    "no valid meta page",
		maybeStale: false,
	}, {
		name: "short garbage", data: []byte("x"),
		opt:     Options{PageSizes: testSizes},
		problem: "no valid meta page",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := Scan(tc.data, tc.opt)
			if !hasProblem(r, tc.problem) {
				t.Fatalf("no problem with %q among %q", tc.problem, r.Problems)
			}
			found := Collect(r, things)
			gotTree := len(found.Records) - found.Scanned
			switch {
			case tc.inTree >= 0 && gotTree != tc.inTree,
				tc.scanned >= 0 && found.Scanned != tc.scanned,
				len(found.Records) == 0 && (tc.inTree < 0 || tc.scanned < 0) && !tc.maybeNone:
				t.Fatalf("%d records from the walk, %d from the scan; want %d and %d", gotTree, found.Scanned, tc.inTree, tc.scanned)
			}
			if found.MaybeStale != tc.maybeStale && !(tc.maybeNone && len(found.Records) == 0) {
				t.Fatalf("maybe stale %v, want %v", found.MaybeStale, tc.maybeStale)
			}
			for k, v := range found.Records {
				want, ok := f.things[k]
				switch {
				case !ok:
					t.Fatalf("Collect kept %q, which the file never held", k)
				case tc.round != 0 && !strings.Contains(v, fmt.Sprintf(`"round":%d,`, tc.round)):
					t.Fatalf("%s = %s, want round %d", k, v, tc.round)
				case tc.round == 0 && !tc.maybeStale && v != want:
					t.Fatalf("%s = %s, want %s", k, v, want)
				}
			}
			for _, rec := range r.Records {
				if !rec.InTree && rec.Path != nil {
					t.Fatalf("a record found by the scan has the path %q", rec.Path)
				}
			}
		})
	}
}

func TestScan_ScannedCopiesNewestWins(t *testing.T) {
	// With the freelist gone and the tree broken, the scan finds both
	// rounds of every record; Newer picks the second.
	f := makeFile(t)
	data := overwrite(overwrite(f.data, int(f.freelist)*testPageSize, bytes.Repeat([]byte{0x42}, 64)),
		int(f.root)*testPageSize+8, bytes.Repeat([]byte{0x42}, 64))
	found := Collect(Scan(data, Options{PageSizes: testSizes}), things)
	for k, v := range f.things {
		if found.Records[k] != v {
			t.Fatalf("%s = %s, want the second round, %s", k, found.Records[k], v)
		}
	}
}

func TestScan_TooManyProblems(t *testing.T) {
	// Every leaf element of every page outside the tree lies outside its
	// page: far more problems than are listed.
	f := makeFile(t)
	data := overwrite(f.data, 0, make([]byte, 2*testPageSize))
	for id := 2; (id+1)*testPageSize <= len(data); id++ {
		p := data[id*testPageSize:]
		if ne.Uint64(p) != uint64(id) || ne.Uint16(p[8:]) != leafFlag {
			continue
		}
		for i := range int(ne.Uint16(p[10:])) {
			ne.PutUint32(p[pageHeaderSize+i*elemSize+4:], 1<<30)
		}
	}
	r := Scan(data, Options{PageSizes: testSizes})
	if len(r.Problems) != MaxProblems || r.Dropped == 0 {
		t.Fatalf("%d problems, %d dropped", len(r.Problems), r.Dropped)
	}
	d := r.Damage()
	if len(d) != MaxProblems+1 || d[MaxProblems] != fmt.Sprintf("and %d more problems", r.Dropped) || len(r.Problems) != MaxProblems {
		t.Fatalf("Damage: %q", d[MaxProblems:])
	}
	if len(Scan(f.data, Options{PageSizes: testSizes}).Damage()) != 0 {
		t.Fatal("the sound file has damage")
	}
}

func TestFindMeta_PageSizes(t *testing.T) {
	f := makeFile(t)
	broken := overwrite(f.data, 0, make([]byte, testPageSize))
	if _, size, ok := FindMeta(broken, []int{1024, testPageSize}); !ok || size != testPageSize {
		t.Fatalf("the second meta page at %d: page size %d, %v", testPageSize, size, ok)
	}
	if _, size, ok := FindMeta(broken, []int{2048, 1024}); ok || size != 2048 {
		t.Fatalf("no meta page at the sizes given: page size %d, %v; want the first size and false", size, ok)
	}
	if _, size, ok := FindMeta(broken, nil); !ok || size != testPageSize {
		t.Fatalf("the default sizes: page size %d, %v", size, ok)
	}
}

func FuzzScan(f *testing.F) {
	// Scan never panics, and every record it yields lies within data.
	path := filepath.Join(f.TempDir(), "fuzz.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: testPageSize})
	if err != nil {
		f.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte(`{"v":1}`))
	}); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(append(make([]byte, 2*testPageSize), data[2*testPageSize:]...))
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Scan(b, Options{PageSizes: testSizes})
		for _, rec := range r.Records {
			if len(rec.Key) > len(b) || len(rec.Value) > len(b) {
				t.Fatalf("a record larger than the file")
			}
		}
		_ = Collect(r, things)
	})
}
