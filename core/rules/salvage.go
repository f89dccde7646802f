package rules

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
)

// The on-disk layout of a bbolt file (go.etcd.io/bbolt/internal/common),
// read here without bbolt, which trusts its pages and panics or faults on
// damaged ones. Every read is bounds-checked: salvage never panics.
const (
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHdrSize  = 16 // root pgid u64, sequence u64
	branchFlag     = 0x01
	leafFlag       = 0x02
	metaFlag       = 0x04
	freelistFlag   = 0x10
	bucketElemFlag = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	metaSize       = 64 // the meta fields, checksum included
	noFreelist     = ^uint64(0)
	maxDepth       = 64
	maxProblems    = 20
)

// ne is the byte order of bbolt files: the writing machine's.
var ne = binary.NativeEndian

// boltMeta is a meta page's content.
type boltMeta struct {
	pageSize                uint32
	root, freelist, hwm, tx uint64
}

// salvaged is what salvage found in a file.
type salvaged struct {
	states     map[string]State
	lost       []string // quoted names of records that did not decode
	scanned    int      // states found outside the tree
	maybeStale bool     // free pages could not be told apart: some may be old versions
	problems   []string
	dropped    int // problems beyond maxProblems
	version    int // the format version in the meta bucket; 0 when unknown
}

// salvager reads entries out of the bytes of a bbolt file.
type salvager struct {
	data     []byte
	pageSize int
	pages    uint64 // pages that may hold data: min(file, high water mark)
	visited  map[uint64]bool
	free     map[uint64]bool
	tree     map[string]State // found by walking the tree
	scan     map[string]State // found by scanning pages outside it
	lost     map[string]bool
	out      salvaged
}

// salvage reads every rule state it can out of data, the bytes of a
// state file (the same walk and scan as the outbox's recovery). It walks the B-tree from the newest valid meta page, skipping
// pages that are out of the file or not what they should be; then, when
// that walk did not reach everything, it scans every page that is neither
// reached nor free for leaf pages holding states (the children of a
// damaged branch page, the pages of a file whose meta pages are gone).
func salvage(data []byte) salvaged {
	s := &salvager{
		data:    data,
		visited: make(map[uint64]bool),
		free:    make(map[uint64]bool),
		tree:    make(map[string]State),
		scan:    make(map[string]State),
		lost:    make(map[string]bool),
	}
	m, ok := s.findMeta()
	complete := false
	if ok {
		s.pages = min(m.hwm, uint64(len(data)/s.pageSize))
		s.visited[0], s.visited[1] = true, true
		freeKnown := s.readFreelist(m.freelist)
		before := len(s.out.problems) + s.out.dropped
		s.walkTree(m.root, "", 0)
		complete = len(s.out.problems)+s.out.dropped == before && m.hwm*uint64(s.pageSize) <= uint64(len(data))
		if !complete && !freeKnown {
			s.out.maybeStale = true
		}
	} else {
		s.problem("no valid meta page: the whole file is scanned for rule states")
		s.pages = uint64((len(data) + s.pageSize - 1) / s.pageSize)
		s.out.maybeStale = true
	}
	if !complete {
		s.scanPages()
	}
	s.finish()
	return s.out
}

// problem records something wrong with the file.
func (s *salvager) problem(format string, args ...any) {
	if len(s.out.problems) >= maxProblems {
		s.out.dropped++
		return
	}
	s.out.problems = append(s.out.problems, fmt.Sprintf(format, args...))
}

// findMeta returns the valid meta page of the highest transaction and
// sets the page size (the default one when no meta page is valid).
func (s *salvager) findMeta() (boltMeta, bool) {
	s.pageSize = os.Getpagesize()
	m0, ok0 := s.readMeta(0)
	if ok0 {
		s.pageSize = int(m0.pageSize)
	} else {
		// The second meta page is one page in: try the sizes bbolt uses.
		for _, size := range []int{os.Getpagesize(), 4096, 1024, 2048, 8192, 16384, 32768, 65536} {
			if m1, ok := s.readMeta(size); ok && int(m1.pageSize) == size {
				s.pageSize = size
				s.problem("the first meta page is damaged")
				return m1, true
			}
		}
		return boltMeta{}, false
	}
	m1, ok1 := s.readMeta(s.pageSize)
	if !ok1 {
		s.problem("the second meta page is damaged")
	}
	if ok1 && m1.tx > m0.tx {
		return m1, true
	}
	return m0, true
}

// readMeta parses the meta page at byte offset off.
func (s *salvager) readMeta(off int) (boltMeta, bool) {
	if off < 0 || off+pageHeaderSize+metaSize > len(s.data) {
		return boltMeta{}, false
	}
	p := s.data[off:]
	if ne.Uint16(p[8:]) != metaFlag {
		return boltMeta{}, false
	}
	f := p[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	_, _ = h.Write(f[:56])
	if ne.Uint32(f[0:]) != boltMagic || ne.Uint32(f[4:]) != boltVersion || ne.Uint64(f[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	m := boltMeta{
		pageSize: ne.Uint32(f[8:]),
		root:     ne.Uint64(f[16:]),
		freelist: ne.Uint64(f[32:]),
		hwm:      ne.Uint64(f[40:]),
		tx:       ne.Uint64(f[48:]),
	}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, false
	}
	return m, true
}

// page returns the bytes of page id (with its overflow pages, cut at the
// end of the file) when its header is sound: it names id, has one of the
// flags in want, and starts below the high water mark.
func (s *salvager) page(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= s.pages {
		return nil, fmt.Errorf("page %d is beyond the end of the file (%d pages)", id, s.pages)
	}
	off := id * uint64(s.pageSize)
	p := s.data[off:]
	if len(p) < pageHeaderSize {
		return nil, fmt.Errorf("page %d is cut short", id)
	}
	flags := ne.Uint16(p[8:])
	switch {
	case ne.Uint64(p) != id:
		return nil, fmt.Errorf("page %d names itself %d", id, ne.Uint64(p))
	case flags&want == 0 || flags&(flags-1) != 0:
		return nil, fmt.Errorf("page %d has flags %#x", id, flags)
	}
	// A page that runs past the end of the file is cut there: the
	// elements that lie outside are reported by whoever reads them.
	span := (uint64(ne.Uint32(p[12:])) + 1) * uint64(s.pageSize)
	return p[:min(span, uint64(len(p)))], nil
}

// readFreelist marks the pages the freelist page id lists as free; it
// reports whether it could read them.
func (s *salvager) readFreelist(id uint64) bool {
	if id == noFreelist {
		return false
	}
	p, err := s.page(id, freelistFlag)
	if err != nil {
		s.problem("freelist: %v", err)
		return false
	}
	for i := id; i <= id+uint64(ne.Uint32(p[12:])) && i < s.pages; i++ {
		s.visited[i] = true
	}
	count, at := uint64(ne.Uint16(p[10:])), pageHeaderSize
	if count == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			s.problem("freelist page %d is cut short", id)
			return false
		}
		count, at = ne.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > uint64(len(p)-at)/8 {
		s.problem("freelist page %d is cut short", id)
		return false
	}
	for i := uint64(0); i < count; i++ {
		s.free[ne.Uint64(p[at+int(i)*8:])] = true
	}
	return true
}

// elem is one element of a leaf page.
type elem struct {
	bucket bool
	key    []byte
	value  []byte
}

// leafElems returns the elements of the leaf page p (a page, or an inline
// bucket's page) that lie within p.
func (s *salvager) leafElems(p []byte, where string) []elem {
	count := int(ne.Uint16(p[10:]))
	var out []elem
	for i := 0; i < count; i++ {
		at := pageHeaderSize + i*elemSize
		if at+elemSize > len(p) {
			s.problem("%s: element %d is cut off", where, i)
			break
		}
		e := p[at:]
		flags, pos, ksize, vsize := ne.Uint32(e), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		kAt := uint64(at) + pos
		if end := kAt + ksize + vsize; end > uint64(len(p)) || end < kAt {
			s.problem("%s: element %d lies outside the page", where, i)
			continue
		}
		out = append(out, elem{
			bucket: flags&bucketElemFlag != 0,
			key:    p[kAt : kAt+ksize],
			value:  p[kAt+ksize : kAt+ksize+vsize],
		})
	}
	return out
}

// walkTree walks the B-tree whose root is page id, the content of the
// bucket named bucket ("" for the root bucket).
func (s *salvager) walkTree(id uint64, bucket string, depth int) {
	if depth > maxDepth {
		s.problem("page %d: the tree is deeper than %d", id, maxDepth)
		return
	}
	if s.visited[id] {
		s.problem("page %d is reached twice", id)
		return
	}
	p, err := s.page(id, branchFlag|leafFlag)
	if err != nil {
		s.problem("%v", err)
		return
	}
	for i := id; i < id+uint64(len(p)+s.pageSize-1)/uint64(s.pageSize); i++ {
		s.visited[i] = true
	}
	if ne.Uint16(p[8:]) == leafFlag {
		s.leaf(p, bucket, fmt.Sprintf("page %d", id), true, depth)
		return
	}
	count := int(ne.Uint16(p[10:]))
	for i := 0; i < count; i++ {
		at := pageHeaderSize + i*elemSize
		if at+elemSize > len(p) {
			s.problem("page %d: branch element %d is cut off", id, i)
			return
		}
		s.walkTree(ne.Uint64(p[at+8:]), bucket, depth+1)
	}
}

// leaf takes what the leaf page p of bucket holds: rule states, the
// format version, and nested buckets, which it walks. inTree is false for pages
// found by the scan, whose bucket is not known ("?").
func (s *salvager) leaf(p []byte, bucket, where string, inTree bool, depth int) {
	for _, e := range s.leafElems(p, where) {
		if e.bucket {
			s.nested(e, where, inTree, depth)
			continue
		}
		switch {
		case bucket == string(stateBucket):
			s.record(e.key, e.value, inTree)
		case bucket == string(metaBucket) && string(e.key) == string(formatKey):
			if v, err := strconv.Atoi(string(e.value)); err == nil {
				s.out.version = v
			}
		case bucket == "?" && len(e.value) > 0 && e.value[0] == '{':
			s.record(e.key, e.value, false)
		}
	}
}

// nested walks the bucket whose header is the value of e.
func (s *salvager) nested(e elem, where string, inTree bool, depth int) {
	name := string(e.key)
	if !inTree {
		name = "?"
	}
	if len(e.value) < bucketHdrSize {
		s.problem("%s: bucket %q has a short header", where, e.key)
		return
	}
	root := ne.Uint64(e.value)
	if root != 0 {
		if inTree {
			s.walkTree(root, name, depth+1)
		}
		return // the scan finds that page on its own
	}
	inline := e.value[bucketHdrSize:]
	if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafFlag {
		s.problem("%s: inline bucket %q is damaged", where, e.key)
		return
	}
	s.leaf(inline, name, fmt.Sprintf("%s, bucket %q", where, e.key), inTree, depth+1)
}

// record takes one rule's state record.
func (s *salvager) record(key, value []byte, inTree bool) {
	st, err := decodeState(value)
	if err != nil {
		s.lost[string(key)] = true
		return
	}
	name := string(key)
	if inTree {
		s.tree[name] = st
		return
	}
	if old, ok := s.scan[name]; !ok || st.LastEval.After(old.LastEval) {
		s.scan[name] = st
	}
}

// scanPages reads every page that the walk did not reach and that is not
// free, looking for leaf pages of rule states.
func (s *salvager) scanPages() {
	for id := uint64(2); id < s.pages; {
		if s.visited[id] || s.free[id] {
			id++
			continue
		}
		p, err := s.page(id, leafFlag|branchFlag)
		if err != nil {
			id++
			continue
		}
		if ne.Uint16(p[8:]) == leafFlag {
			s.leaf(p, "?", fmt.Sprintf("page %d", id), false, 0)
		}
		next := id + uint64(ne.Uint32(p[12:])) + 1
		if next > s.pages { // an overflow count past the end: garbage
			next = id + 1
		}
		id = next
	}
}

// finish merges what the walk and the scan found.
func (s *salvager) finish() {
	for name, st := range s.scan {
		if _, ok := s.tree[name]; !ok {
			s.tree[name] = st
			s.out.scanned++
		}
	}
	if s.out.scanned == 0 {
		s.out.maybeStale = false
	}
	for name := range s.lost {
		if _, ok := s.tree[name]; !ok {
			s.out.lost = append(s.out.lost, quoteKey([]byte(name)))
		}
	}
	sort.Strings(s.out.lost)
	s.out.states = s.tree
}

// quoteKey quotes a key for messages, shortened if long.
func quoteKey(k []byte) string {
	if len(k) > 200 {
		return strconv.Quote(string(k[:200])) + "..."
	}
	return strconv.Quote(string(k))
}
