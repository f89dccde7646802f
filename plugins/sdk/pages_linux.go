package sdk

import (
	"os"

	"golang.org/x/sys/unix"
)

// releaseFilePages drops from the process the pages of its executable's
// code and constant data (madvise MADV_DONTNEED on its read-only
// mappings whose pages are all still the file's). Starting a Go plugin
// brings in nearly all of its binary (the init of gRPC, protobuf and TLS,
// and a page cache that maps large folios whole): about 15 MB, of which
// an idle plugin then uses about half. The pages stay in the page cache,
// so what a send needs comes back on its first use at the cost of a minor
// fault. Best effort: it reports nothing.
func releaseFilePages() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	spans := fileSpans(f, exe)
	_ = f.Close()
	for _, s := range spans {
		// A raw syscall: the range is a mapping of the process's own,
		// which no Go slice describes.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED)
	}
}
