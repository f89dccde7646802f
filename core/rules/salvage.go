package rules

import (
	"os"

	"github.com/tocsin-dev/tocsin/core/boltsalvage"
)

// salvagePageSizes are the page sizes salvage tries when the first meta
// page is damaged: the one the store writes (bbolt's default) first.
var salvagePageSizes = []int{os.Getpagesize(), 4096, 1024, 2048, 8192, 16384, 32768, 65536}

// salvaged is what salvage found in a file.
type salvaged struct {
	states     map[string]State
	lost       []string // quoted names of records that did not decode
	scanned    int      // states found outside the tree
	maybeStale bool     // free pages could not be told apart: some may be old versions
	damage     []string // what was found wrong in the file
}

// salvage reads every rule state it can out of data, the bytes of a
// state file (see boltsalvage.Scan). Of the copies of a state found
// outside the tree, the one last evaluated wins.
func salvage(data []byte) salvaged {
	res := boltsalvage.Scan(data, boltsalvage.Options{PageSizes: salvagePageSizes, What: "rule states"})
	found := boltsalvage.Collect(res, boltsalvage.Kind[State]{
		Bucket: string(stateBucket),
		Looks:  func(v []byte) bool { return len(v) > 0 && v[0] == '{' },
		Decode: func(_, v []byte) (State, error) { return decodeState(v) },
		Newer:  func(a, b State) bool { return a.LastEval.After(b.LastEval) },
	})
	return salvaged{
		states:     found.Records,
		lost:       found.Lost,
		scanned:    found.Scanned,
		maybeStale: found.MaybeStale,
		damage:     res.Damage(),
	}
}
