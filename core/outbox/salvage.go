package outbox

import (
	"os"
	"slices"

	"github.com/tocsin-dev/tocsin/core/boltsalvage"
)

// salvagePageSizes are the page sizes salvage tries when the first meta
// page is damaged: the one the outbox writes first.
var salvagePageSizes = []int{pageSize, os.Getpagesize(), 1024, 2048, 8192, 16384, 32768, 65536}

// salvaged is what salvage found in a file.
type salvaged struct {
	entries    []*Entry // sorted by EnqueuedAt, then ID
	lost       []string // quoted IDs of entry records that did not decode
	scanned    int      // entries found outside the tree
	maybeStale bool     // free pages could not be told apart: some may be old versions
	damage     []string // what was found wrong in the file
}

// salvage reads every entry it can out of data, the bytes of an outbox
// file (see boltsalvage.Scan). Of the copies of an entry found outside
// the tree, the one furthest on wins.
func salvage(data []byte) salvaged {
	res := boltsalvage.Scan(data, boltsalvage.Options{PageSizes: salvagePageSizes, What: "entries"})
	found := boltsalvage.Collect(res, boltsalvage.Kind[*Entry]{
		Bucket: string(entriesBucket),
		Looks:  func(v []byte) bool { return len(v) > 0 && v[0] == '{' },
		Decode: decodeEntry,
		Newer:  further,
	})
	out := salvaged{
		lost:       found.Lost,
		scanned:    found.Scanned,
		maybeStale: found.MaybeStale,
		damage:     res.Damage(),
	}
	for _, e := range found.Records {
		out.entries = append(out.entries, e)
	}
	slices.SortFunc(out.entries, byEnqueued)
	return out
}

// further reports whether a is a later version of an entry than b: more
// attempts, or a later last attempt.
func further(a, b *Entry) bool {
	if a.TotalAttempts != b.TotalAttempts {
		return a.TotalAttempts > b.TotalAttempts
	}
	var at, bt int64
	if a.Last != nil {
		at = a.Last.At.UnixNano()
	}
	if b.Last != nil {
		bt = b.Last.At.UnixNano()
	}
	return at > bt
}
