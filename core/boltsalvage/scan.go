package boltsalvage

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
)

// The on-disk layout of a bbolt file (go.etcd.io/bbolt/internal/common).
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
	// MaxProblems is how many problems a Result lists; it counts the
	// others in Dropped.
	MaxProblems = 20
)

// ne is the byte order of bbolt files: the writing machine's.
var ne = binary.NativeEndian

// Meta is the content of a valid meta page.
type Meta struct {
	PageSize  uint32
	Root      uint64 // the root bucket's page
	Freelist  uint64 // the freelist's page; ^uint64(0) when not stored
	HighWater uint64 // the number of pages in use
	TxID      uint64
}

// Options says how to read a file.
type Options struct {
	// PageSizes are the page sizes to try, in order, for the second meta
	// page when the first one is damaged; the first is assumed when no
	// meta page is valid. Empty means os.Getpagesize(), then the sizes
	// bbolt uses.
	PageSizes []int
	// What names what the caller looks for, in the problem reported when
	// the whole file has to be scanned ("entries"); "records" when empty.
	What string
}

// Record is one key/value pair of a leaf page. Key and Value point into
// the data given to Scan.
type Record struct {
	// Path names the buckets from the root down to the one holding the
	// pair (empty for the root bucket); nil when InTree is false.
	Path       []string
	Key, Value []byte
	// InTree is set for pairs the walk from the meta page reached; the
	// others were found by the scan of pages outside the tree.
	InTree bool
}

// Result is what Scan found in a file.
type Result struct {
	Records []Record // in the order found: the walk's, then the scan's
	// MaybeStale is set when the scan ran while free pages could not be
	// told apart from live ones: pairs it found may be old versions.
	MaybeStale bool
	Problems   []string // what was found wrong, at most MaxProblems
	Dropped    int      // problems beyond MaxProblems
}

// Damage is Problems, with a last line counting the dropped ones.
func (r Result) Damage() []string {
	d := r.Problems
	if r.Dropped > 0 {
		d = append(d[:len(d):len(d)], "and "+strconv.Itoa(r.Dropped)+" more problems")
	}
	return d
}

// defaultPageSizes are tried when Options.PageSizes is empty.
func defaultPageSizes() []int {
	return []int{os.Getpagesize(), 4096, 1024, 2048, 8192, 16384, 32768, 65536}
}

// scanner reads the bytes of a bbolt file.
type scanner struct {
	data      []byte
	pageSizes []int
	pageSize  int
	pages     uint64 // pages that may hold data: min(file, high water mark)
	visited   map[uint64]bool
	free      map[uint64]bool
	out       Result
}

// newScanner returns a scanner of data.
func newScanner(data []byte, pageSizes []int) *scanner {
	if len(pageSizes) == 0 {
		pageSizes = defaultPageSizes()
	}
	return &scanner{
		data:      data,
		pageSizes: pageSizes,
		visited:   make(map[uint64]bool),
		free:      make(map[uint64]bool),
	}
}

// Scan reads every key/value pair it can out of data, the bytes of a
// bbolt file: see the package documentation. It never fails; what it
// found wrong is in the Result's Problems.
func Scan(data []byte, opt Options) Result {
	s := newScanner(data, opt.PageSizes)
	m, ok := s.findMeta()
	complete := false
	if ok {
		s.pages = min(m.HighWater, uint64(len(data)/s.pageSize))
		s.visited[0], s.visited[1] = true, true
		freeKnown := s.readFreelist(m.Freelist)
		before := len(s.out.Problems) + s.out.Dropped
		s.walkTree(m.Root, []string{}, 0)
		complete = len(s.out.Problems)+s.out.Dropped == before && m.HighWater*uint64(s.pageSize) <= uint64(len(data))
		if !complete && !freeKnown {
			s.out.MaybeStale = true
		}
	} else {
		what := opt.What
		if what == "" {
			what = "records"
		}
		s.problem("no valid meta page: the whole file is scanned for %s", what)
		s.pages = uint64((len(data) + s.pageSize - 1) / s.pageSize)
		s.out.MaybeStale = true
	}
	if !complete {
		s.scanPages()
	}
	return s.out
}

// FindMeta returns the valid meta page of data with the highest
// transaction, and the page size the file is read with (pageSizes as in
// Options); ok is false when neither meta page is valid.
func FindMeta(data []byte, pageSizes []int) (m Meta, pageSize int, ok bool) {
	s := newScanner(data, pageSizes)
	m, ok = s.findMeta()
	return m, s.pageSize, ok
}

// problem records something wrong with the file.
func (s *scanner) problem(format string, args ...any) {
	if len(s.out.Problems) >= MaxProblems {
		s.out.Dropped++
		return
	}
	s.out.Problems = append(s.out.Problems, fmt.Sprintf(format, args...))
}

// findMeta returns the valid meta page of the highest transaction and
// sets the page size (the first of pageSizes when no meta page is valid).
func (s *scanner) findMeta() (Meta, bool) {
	s.pageSize = s.pageSizes[0]
	m0, ok0 := s.readMeta(0)
	if ok0 {
		s.pageSize = int(m0.PageSize)
	} else {
		// The second meta page is one page in: try the sizes given.
		for _, size := range s.pageSizes {
			if m1, ok := s.readMeta(size); ok && int(m1.PageSize) == size {
				s.pageSize = size
				s.problem("the first meta page is damaged")
				return m1, true
			}
		}
		return Meta{}, false
	}
	m1, ok1 := s.readMeta(s.pageSize)
	if !ok1 {
		s.problem("the second meta page is damaged")
	}
	if ok1 && m1.TxID > m0.TxID {
		return m1, true
	}
	return m0, true
}

// readMeta parses the meta page at byte offset off.
func (s *scanner) readMeta(off int) (Meta, bool) {
	if off < 0 || off+pageHeaderSize+metaSize > len(s.data) {
		return Meta{}, false
	}
	p := s.data[off:]
	if ne.Uint16(p[8:]) != metaFlag {
		return Meta{}, false
	}
	f := p[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	_, _ = h.Write(f[:56])
	if ne.Uint32(f[0:]) != boltMagic || ne.Uint32(f[4:]) != boltVersion || ne.Uint64(f[56:]) != h.Sum64() {
		return Meta{}, false
	}
	m := Meta{
		PageSize:  ne.Uint32(f[8:]),
		Root:      ne.Uint64(f[16:]),
		Freelist:  ne.Uint64(f[32:]),
		HighWater: ne.Uint64(f[40:]),
		TxID:      ne.Uint64(f[48:]),
	}
	if m.PageSize < 512 || m.PageSize > 1<<20 || m.PageSize&(m.PageSize-1) != 0 {
		return Meta{}, false
	}
	return m, true
}

// page returns the bytes of page id (with its overflow pages, cut at the
// end of the file) when its header is sound: it names id, has one of the
// flags in want, and starts below the high water mark.
func (s *scanner) page(id uint64, want uint16) ([]byte, error) {
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
func (s *scanner) readFreelist(id uint64) bool {
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
func (s *scanner) leafElems(p []byte, where string) []elem {
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
// bucket at path.
func (s *scanner) walkTree(id uint64, path []string, depth int) {
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
		s.leaf(p, path, fmt.Sprintf("page %d", id), true, depth)
		return
	}
	count := int(ne.Uint16(p[10:]))
	for i := 0; i < count; i++ {
		at := pageHeaderSize + i*elemSize
		if at+elemSize > len(p) {
			s.problem("page %d: branch element %d is cut off", id, i)
			return
		}
		s.walkTree(ne.Uint64(p[at+8:]), path, depth+1)
	}
}

// leaf takes what the leaf page p of the bucket at path holds: pairs, and
// nested buckets, which it walks. inTree is false for pages found by the
// scan, whose bucket is not known (path is nil).
func (s *scanner) leaf(p []byte, path []string, where string, inTree bool, depth int) {
	for _, e := range s.leafElems(p, where) {
		if e.bucket {
			s.nested(e, path, where, inTree, depth)
			continue
		}
		s.out.Records = append(s.out.Records, Record{Path: path, Key: e.key, Value: e.value, InTree: inTree})
	}
}

// nested walks the bucket whose header is the value of e, in the bucket
// at path.
func (s *scanner) nested(e elem, path []string, where string, inTree bool, depth int) {
	var child []string
	if inTree {
		child = append(path[:len(path):len(path)], string(e.key))
	}
	if len(e.value) < bucketHdrSize {
		s.problem("%s: bucket %q has a short header", where, e.key)
		return
	}
	root := ne.Uint64(e.value)
	if root != 0 {
		if inTree {
			s.walkTree(root, child, depth+1)
		}
		return // the scan finds that page on its own
	}
	inline := e.value[bucketHdrSize:]
	if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafFlag {
		s.problem("%s: inline bucket %q is damaged", where, e.key)
		return
	}
	s.leaf(inline, child, fmt.Sprintf("%s, bucket %q", where, e.key), inTree, depth+1)
}

// scanPages reads every page that the walk did not reach and that is not
// free, looking for leaf pages.
func (s *scanner) scanPages() {
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
			s.leaf(p, nil, fmt.Sprintf("page %d", id), false, 0)
		}
		next := id + uint64(ne.Uint32(p[12:])) + 1
		if next > s.pages { // an overflow count past the end: garbage
			next = id + 1
		}
		id = next
	}
}
