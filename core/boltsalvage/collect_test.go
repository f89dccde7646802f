package boltsalvage

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	rec := func(path []string, key, value string, inTree bool) Record {
		return Record{Path: path, Key: []byte(key), Value: []byte(value), InTree: inTree}
	}
	in := []string{"things"}
	r := Result{MaybeStale: true, Records: []Record{
		rec(in, "a", "{1", true),
		rec(nil, "a", "{9", false),                    // the walk's copy wins
		rec(nil, "b", "{2", false),                    // found only by the scan
		rec(nil, "b", "{5", false),                    // a later copy
		rec(nil, "b", "{3", false),                    // an earlier one
		rec(nil, "c", "7", false),                     // does not look like one
		rec([]string{"other"}, "d", "{1", true),       // another bucket
		rec([]string{"x", "things"}, "e", "{1", true), // a nested bucket of that name
		rec(in, "bad", "{x", true),                    // lost
		rec(nil, "bad2", "{x", false),                 // lost
		rec(in, "f", "{x", true),                      // lost in the tree,
		rec(nil, "f", "{4", false),                    // but the scan has a copy
		rec([]string{}, "g", "{1", true),              // the root bucket
	}}
	kind := Kind[int]{
		Bucket: "things",
		Looks:  func(v []byte) bool { return len(v) > 0 && v[0] == '{' },
		Decode: func(_, v []byte) (int, error) {
			n, err := strconv.Atoi(string(v[1:]))
			if err != nil {
				return 0, errors.New("not a number")
			}
			return n, nil
		},
		Newer: func(a, b int) bool { return a > b },
	}
	found := Collect(r, kind)
	want := map[string]int{"a": 1, "b": 5, "e": 1, "f": 4}
	if len(found.Records) != len(want) {
		t.Fatalf("records %v, want %v", found.Records, want)
	}
	for k, v := range want {
		if found.Records[k] != v {
			t.Fatalf("records %v, want %v", found.Records, want)
		}
	}
	if found.Scanned != 2 || !found.MaybeStale || !slices.Equal(found.Lost, []string{`"bad"`, `"bad2"`}) {
		t.Fatalf("scanned %d, maybe stale %v, lost %q", found.Scanned, found.MaybeStale, found.Lost)
	}

	// Nothing kept from the scan: nothing stale.
	r.Records = r.Records[:1]
	if found := Collect(r, kind); found.MaybeStale || found.Scanned != 0 || len(found.Records) != 1 {
		t.Fatalf("only the walk's record: %+v", found)
	}
}

func TestQuoteKey(t *testing.T) {
	if got := QuoteKey([]byte("a\x00b")); got != `"a\x00b"` {
		t.Fatalf("QuoteKey = %s", got)
	}
	long := QuoteKey([]byte(strings.Repeat("k", 300)))
	if long != strconv.Quote(strings.Repeat("k", 200))+"..." {
		t.Fatalf("a long key: %s", long)
	}
}
