package outbox

import "github.com/tocsin-dev/tocsin/core/boltsalvage"

// boltMeta and salvager let the tests read the meta page bbolt uses in a
// file (currentMeta in corrupt_test.go) through boltsalvage.
type boltMeta struct{ freelist uint64 }

type salvager struct {
	data     []byte
	pageSize int
}

// findMeta returns the newest valid meta page of s.data and sets
// s.pageSize, as salvage reads them.
func (s *salvager) findMeta() (boltMeta, bool) {
	m, size, ok := boltsalvage.FindMeta(s.data, salvagePageSizes)
	s.pageSize = size
	return boltMeta{freelist: m.Freelist}, ok
}
