package outbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder returns the pid of a process that holds a lock on the file
// at path, from /proc/locks, or 0 when it cannot tell (the holder lives in
// another pid namespace, or /proc is not mounted).
func lockHolder(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseLocks(bufio.NewScanner(f), uint64(sys.Dev), uint64(sys.Ino))
}

// parseLocks finds in /proc/locks lines the pid of a lock on the inode ino
// of the device dev. A lock on the same inode number of another device is
// taken only when no lock matches both (overlay file systems report
// devices /proc/locks does not use).
//
// A line reads "1: FLOCK  ADVISORY  WRITE 4242 00:2f:1234 0 EOF"; blocked
// waiters add "->" after the number.
func parseLocks(sc *bufio.Scanner, dev, ino uint64) int {
	want := fmt.Sprintf("%02x:%02x:%d", devMajor(dev), devMinor(dev), ino)
	suffix := ":" + strconv.FormatUint(ino, 10)
	inodeOnly := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[1] == "->" {
			continue // waiting, not holding
		}
		if len(f) < 6 {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || pid <= 0 {
			continue
		}
		switch {
		case f[5] == want:
			return pid
		case strings.HasSuffix(f[5], suffix) && inodeOnly == 0:
			inodeOnly = pid
		}
	}
	return inodeOnly
}

// devMajor and devMinor split a Linux device number.
func devMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^0xfff }

// devMinor returns the minor number of a Linux device number.
func devMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^0xff }
