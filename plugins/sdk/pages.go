package sdk

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// span is a range of the process's address space, [start, end).
type span struct{ start, end uintptr }

// fileSpans returns the mappings of the file exe, in smaps (the format of
// /proc/self/smaps), that can only be read and whose pages are all still
// the file's: none written or relocated into an anonymous copy. Such a
// mapping can be dropped from the process and read again from the page
// cache unchanged. Lines it cannot read are skipped: the spans are a hint,
// not a promise.
func fileSpans(smaps io.Reader, exe string) []span {
	var (
		out  []span
		cur  span
		keep bool // cur is a read-only mapping of exe
	)
	flush := func() {
		if keep {
			out = append(out, cur)
		}
		keep = false
	}
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if strings.HasSuffix(f[0], ":") {
			// A field of the current mapping, such as "Anonymous: 4 kB".
			if f[0] == "Anonymous:" && (len(f) < 2 || f[1] != "0") {
				keep = false
			}
			continue
		}
		// A mapping: address perms offset dev inode [path].
		flush()
		if len(f) != 6 || f[5] != exe || !strings.HasPrefix(f[1], "r") || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		a, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			continue
		}
		b, err := strconv.ParseUint(hi, 16, 64)
		if err != nil || b <= a {
			continue
		}
		cur, keep = span{uintptr(a), uintptr(b)}, true
	}
	flush()
	return out
}
