package boltsalvage

import (
	"sort"
	"strconv"
)

// Kind says which records of a Result a caller wants and how to read
// them.
type Kind[T any] struct {
	// Bucket names the bucket whose pairs the walk reached are records.
	Bucket string
	// Looks reports whether a pair found by the scan, whose bucket is
	// not known, may be a record.
	Looks func(value []byte) bool
	// Decode reads a record; a record it refuses is listed as lost.
	Decode func(key, value []byte) (T, error)
	// Newer reports whether a is a later copy of a record than b, among
	// copies found by the scan.
	Newer func(a, b T) bool
}

// Found is what Collect found: the records of one kind.
type Found[T any] struct {
	// Records are keyed by the record's key. A copy the walk reached wins
	// over the copies found by the scan; among those, the newest (Kind.Newer).
	Records map[string]T
	// Lost holds the keys (quoted with QuoteKey, sorted) of records that
	// did not decode and of which no copy did.
	Lost []string
	// Scanned counts the Records found only by the scan.
	Scanned int
	// MaybeStale is Result.MaybeStale when a kept record came from the
	// scan.
	MaybeStale bool
}

// Collect decodes the records of kind k among the pairs of r.
func Collect[T any](r Result, k Kind[T]) Found[T] {
	tree := make(map[string]T)
	scan := make(map[string]T)
	lost := make(map[string]bool)
	for _, rec := range r.Records {
		if rec.InTree {
			if len(rec.Path) == 0 || rec.Path[len(rec.Path)-1] != k.Bucket {
				continue
			}
		} else if !k.Looks(rec.Value) {
			continue
		}
		v, err := k.Decode(rec.Key, rec.Value)
		key := string(rec.Key)
		switch {
		case err != nil:
			lost[key] = true
		case rec.InTree:
			tree[key] = v
		default:
			if old, ok := scan[key]; !ok || k.Newer(v, old) {
				scan[key] = v
			}
		}
	}
	out := Found[T]{Records: tree}
	for key, v := range scan {
		if _, ok := tree[key]; !ok {
			tree[key] = v
			out.Scanned++
		}
	}
	out.MaybeStale = r.MaybeStale && out.Scanned > 0
	for key := range lost {
		if _, ok := tree[key]; !ok {
			out.Lost = append(out.Lost, QuoteKey([]byte(key)))
		}
	}
	sort.Strings(out.Lost)
	return out
}

// QuoteKey quotes a key for messages, shortened if long.
func QuoteKey(k []byte) string {
	if len(k) > 200 {
		return strconv.Quote(string(k[:200])) + "..."
	}
	return strconv.Quote(string(k))
}
