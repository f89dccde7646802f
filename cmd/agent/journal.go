//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// toJournal reports whether w is the systemd journal's stream: systemd
// sets JOURNAL_STREAM to "device:inode" of the stream it connects to a
// service's stdout and stderr, and w is that file when its device and
// inode match (systemd.exec(5), which says to compare them rather than
// trust the variable alone: a child started with other outputs inherits
// it).
func toJournal(w io.Writer, journalStream string) bool {
	f, ok := w.(*os.File)
	if !ok || journalStream == "" {
		return false
	}
	var dev, ino uint64
	if n, err := fmt.Sscanf(journalStream, "%d:%d", &dev, &ino); err != nil || n != 2 {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}
