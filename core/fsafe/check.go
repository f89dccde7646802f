package fsafe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// ErrUnsafe is wrapped by every error that refuses a file or directory for
// its owner, mode or type.
var ErrUnsafe = errors.New("refused as unsafe")

// Kind says which rules a file is held to.
type Kind int

const (
	// State is a data file (outbox.db, state.db): a regular file that
	// group and others cannot write.
	State Kind = iota
	// Secret is a token or key file: also unreadable by others, and
	// readable by its group only when root owns it.
	Secret
)

// Info is the part of a file's status the checks look at.
type Info struct {
	Mode     fs.FileMode
	UID, GID uint32
	Nlink    uint64
	// PrivateGroup is set (for directories) when the group is its
	// owner's private group: the owner's primary group, of the owner's
	// name, as distributions with user private groups create (umask 002
	// makes new directories group-writable there, which is harmless).
	PrivateGroup bool
}

// groupWritable reports whether st lets a group write, other than its
// owner's private group.
func groupWritable(st Info) bool {
	return st.Mode.Perm()&0o020 != 0 && !st.PrivateGroup
}

// othersWrite reports whether st lets others, or a group other than its
// owner's private one, write.
func othersWrite(st Info) bool {
	return st.Mode.Perm()&0o002 != 0 || groupWritable(st)
}

// trust says whose files are trusted: root, the process's effective uid
// and, when that is root, the owner of the directory that holds the file.
type trust struct {
	euid     uint32
	dirOwner uint32
}

// trusts reports whether a file owned by uid is trusted.
func (t trust) trusts(uid uint32) bool {
	return uid == 0 || uid == t.euid || (t.euid == 0 && uid == t.dirOwner)
}

// whom describes the trusted owners for an error message.
func (t trust) whom() string {
	if t.euid == 0 {
		if t.dirOwner == 0 {
			return "root"
		}
		return fmt.Sprintf("root or %s (the owner of its directory)", userName(t.dirOwner))
	}
	return fmt.Sprintf("root or %s (the user tocsin runs as)", userName(t.euid))
}

// checkDataDir decides whether data_dir at path, of status st, is safe for
// a process running as euid.
func checkDataDir(path string, st Info, euid uint32) error {
	if !st.Mode.IsDir() {
		return fmt.Errorf("data_dir %s is not a directory (%s): %w; point data_dir at a directory", path, typeName(st.Mode), ErrUnsafe)
	}
	if euid != 0 && st.UID != euid && st.UID != 0 {
		return fmt.Errorf("data_dir %s belongs to %s, not to %s that tocsin runs as: %w; that user could plant or change tocsin's files there. "+
			"Run chown -R %s %s, or run tocsin as its owner", path, userName(st.UID), userName(euid), ErrUnsafe, ownerArg(euid), path)
	}
	if perm := st.Mode.Perm(); othersWrite(st) {
		return fmt.Errorf("data_dir %s has mode %#o, which lets group or others create, replace or delete tocsin's files in it: %w. Run chmod go-w %s (tocsin creates it with mode 0700)",
			path, perm, ErrUnsafe, path)
	}
	return nil
}

// checkParent decides whether dir, a parent of data_dir (which belongs to
// dataOwner), of status st, is safe for a process running as euid.
func checkParent(dir, dataDir string, st Info, euid, dataOwner uint32) error {
	if st.UID != 0 && st.UID != euid && st.UID != dataOwner {
		return fmt.Errorf("%s, a parent of data_dir %s, belongs to %s: %w; that user could replace data_dir. Run chown root %s, or move data_dir",
			dir, dataDir, userName(st.UID), ErrUnsafe, dir)
	}
	if perm := st.Mode.Perm(); othersWrite(st) && !(st.Mode&fs.ModeSticky != 0 && st.UID == 0) {
		return fmt.Errorf("%s, a parent of data_dir %s, has mode %#o, which lets group or others replace data_dir: %w. Run chmod go-w %s (or make it a root-owned sticky directory like /tmp), or move data_dir",
			dir, dataDir, perm, ErrUnsafe, dir)
	}
	return nil
}

// checkFile decides whether the file at path, of status st, in a directory
// that belongs to dirOwner, is safe to use for a process running as euid.
func checkFile(path string, st Info, kind Kind, euid, dirOwner uint32) error {
	if !st.Mode.IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s): %w; tocsin reads and writes only regular files there. Remove it", path, typeName(st.Mode), ErrUnsafe)
	}
	t := trust{euid: euid, dirOwner: dirOwner}
	if !t.trusts(st.UID) {
		owner := euid
		if euid == 0 {
			owner = dirOwner
		}
		return fmt.Errorf("%s belongs to %s, not to %s: %w; another user could have written it. Check it, then run chown %s %s",
			path, userName(st.UID), t.whom(), ErrUnsafe, ownerArg(owner), path)
	}
	if st.Nlink > 1 && st.UID != dirOwner {
		return fmt.Errorf("%s has %d hard links and belongs to %s, not to its directory's owner %s: %w; it may be another file linked in. Remove it (or replace it with a copy)",
			path, st.Nlink, userName(st.UID), userName(dirOwner), ErrUnsafe)
	}
	perm := st.Mode.Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("%s has mode %#o, which lets group or others change it: %w. Run chmod go-w %s", path, perm, ErrUnsafe, path)
	}
	if kind != Secret {
		return nil
	}
	if perm&0o007 != 0 {
		return fmt.Errorf("%s has mode %#o, which lets others read it: %w. Run chmod 600 %s (or 640 with root as owner and the agent's group)", path, perm, ErrUnsafe, path)
	}
	if perm&0o070 != 0 && st.UID != 0 {
		return fmt.Errorf("%s has mode %#o, which lets its group read it: %w. Run chmod 600 %s (a file shared with the agent's group must belong to root: chown root:GROUP and chmod 640)",
			path, perm, ErrUnsafe, path)
	}
	if perm&0o010 != 0 {
		return fmt.Errorf("%s has mode %#o: %w. Run chmod 640 %s", path, perm, ErrUnsafe, path)
	}
	return nil
}

// typeName names the type of a file that is not what was expected.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

// userName describes uid for messages: "user NAME (uid N)", or "uid N"
// when it has no name.
func userName(uid uint32) string {
	if n := lookupName(uid); n != "" {
		return fmt.Sprintf("user %s (uid %d)", n, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// ownerArg is uid as chown takes it: the name, else the number.
func ownerArg(uid uint32) string {
	if n := lookupName(uid); n != "" {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// lookupName returns the name of uid, or "".
func lookupName(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.Username
}

// groupFile is where privateGroup reads the members of groups.
var groupFile = "/etc/group"

// privateGroup reports whether gid is the private group of the user uid:
// the user's primary group, named like the user, with no other member
// listed in /etc/group (a group that is not there is not taken as
// private).
func privateGroup(uid, gid uint32) bool {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil || u.Gid != strconv.FormatUint(uint64(gid), 10) {
		return false
	}
	data, err := os.ReadFile(groupFile)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 4 || f[2] != u.Gid {
			continue
		}
		if f[0] != u.Username {
			return false
		}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" && m != u.Username {
				return false
			}
		}
		return true
	}
	return false
}
