//go:build unix

package fsafe

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// enforced: this system has Unix owners and modes.
const enforced = true

// openFlags are added to every OpenFile: no link followed, no blocking
// on a FIFO.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// geteuid returns the effective uid of the process.
func geteuid() uint32 { return uint32(os.Geteuid()) }

// infoOf extracts the owner, mode and link count of fi.
func infoOf(fi fs.FileInfo) (Info, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Info{Mode: fi.Mode()}, false
	}
	return Info{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, Nlink: uint64(st.Nlink)}, true
}

// isLinkErr reports whether err is what an O_NOFOLLOW open of a link
// returns (ELOOP; EMLINK on some BSDs).
func isLinkErr(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}
