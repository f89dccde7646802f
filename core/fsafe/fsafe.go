package fsafe

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckDataDir checks that data_dir at dir, and every parent of it up to
// /, is safe to keep tocsin's files in (see the package doc). A dir that
// does not exist is an error wrapping fs.ErrNotExist; an unsafe one wraps
// ErrUnsafe and says what to run.
func CheckDataDir(dir string) error {
	if !enforced {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	st := dirInfo(fi)
	euid := geteuid()
	if err := checkDataDir(dir, st, euid); err != nil {
		return err
	}
	// The parents of the path as written (where a link to data_dir
	// lives), then those of the directory it leads to: a link is the
	// operator's choice, but nobody else may replace it or its target.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := checkParents(abs, dir, euid, st.UID); err != nil {
		return err
	}
	if real != abs {
		return checkParents(real, dir, euid, st.UID)
	}
	return nil
}

// checkParents checks every parent of path up to / for data_dir dir,
// owned by dataOwner.
func checkParents(path, dir string, euid, dataOwner uint32) error {
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		pfi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("data_dir %s: %w", dir, err)
		}
		if err := checkParent(p, dir, dirInfo(pfi), euid, dataOwner); err != nil {
			return err
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// PrepareDataDir creates data_dir (mode 0700, with its missing parents)
// when it does not exist, then checks it with CheckDataDir.
func PrepareDataDir(dir string) error {
	if dir == "" {
		return errors.New("data_dir is not set")
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data_dir: %w", err)
		}
	}
	return CheckDataDir(dir)
}

// MkdirAll is os.MkdirAll, except that each directory it creates is given
// to the owner of the directory it is created in, when the process runs as
// root (see Adopt).
func MkdirAll(dir string, perm fs.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: dir, Err: fmt.Errorf("%s, not a directory", typeName(fi.Mode()))}
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return adoptPath(dir, parent)
}

// CheckDir checks a directory that tocsin keeps files in, below data_dir
// (tokens/): it must be a directory, not a link, of a trusted owner, that
// group and others cannot write.
func CheckDir(dir string) error {
	if !enforced {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st := dirInfo(fi)
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (%s): %w; remove it", dir, typeName(fi.Mode()), ErrUnsafe)
	}
	pfi, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return err
	}
	pst, _ := infoOf(pfi)
	t := trust{euid: geteuid(), dirOwner: pst.UID}
	if !t.trusts(st.UID) {
		return fmt.Errorf("%s belongs to %s, not to %s: %w; check what is in it, then chown -R it", dir, userName(st.UID), t.whom(), ErrUnsafe)
	}
	if perm := st.Mode.Perm(); othersWrite(st) {
		return fmt.Errorf("%s has mode %#o, which lets group or others change its files: %w. Run chmod go-w %s", dir, perm, ErrUnsafe, dir)
	}
	return nil
}

// OpenFile is os.OpenFile for one of tocsin's own files: it does not
// follow a link at name (a link is refused), does not block on a FIFO,
// and checks the open file against the rules of kind (see the package
// doc) before returning it. A file opened for writing by root in a
// directory of another user is given to that user (Adopt). The bbolt
// files pass it as their Options.OpenFile.
func OpenFile(name string, flag int, perm fs.FileMode, kind Kind) (*os.File, error) {
	f, err := os.OpenFile(name, flag|openFlags, perm)
	if err != nil {
		if isLinkErr(err) {
			if fi, lerr := os.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s is a symbolic link: %w; tocsin does not follow links to its own files, so that a link planted there cannot make it read or write another file. Remove the link and put the file itself there", name, ErrUnsafe)
			}
		}
		return nil, err
	}
	if err := checkOpen(f, name, kind); err != nil {
		_ = f.Close()
		return nil, err
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if err := Adopt(f, filepath.Dir(name)); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// checkOpen checks the open file f (named name) against the rules of kind.
func checkOpen(f *os.File, name string, kind Kind) error {
	if !enforced {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	dfi, err := os.Stat(filepath.Dir(name))
	if err != nil {
		return err
	}
	st, _ := infoOf(fi)
	dst, _ := infoOf(dfi)
	return checkFile(name, st, kind, geteuid(), dst.UID)
}

// ReadFile reads the file at name, opened with OpenFile (no link
// followed, no blocking on a FIFO, only a regular file that passes the
// checks of kind). A file larger than limit bytes is an error.
func ReadFile(name string, limit int64, kind Kind) ([]byte, error) {
	f, err := OpenFile(name, os.O_RDONLY, 0, kind)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		clear(data)
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// Adopt gives the open file f to the owner and group of dir when the
// process runs as root and dir belongs to another user, so that the agent,
// running as that user, can use the files a root CLI wrote. Otherwise it
// does nothing.
func Adopt(f *os.File, dir string) error {
	if !enforced || geteuid() != 0 {
		return nil
	}
	dfi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	dst, _ := infoOf(dfi)
	st, _ := infoOf(fi)
	if dst.UID == 0 || (st.UID == dst.UID && st.GID == dst.GID) {
		return nil
	}
	if err := f.Chown(int(dst.UID), int(dst.GID)); err != nil {
		return fmt.Errorf("give %s to the owner of %s (%s): %w", f.Name(), dir, userName(dst.UID), err)
	}
	return nil
}

// adoptPath is Adopt for the directory at path, just created in dir.
func adoptPath(path, dir string) error {
	if !enforced || geteuid() != 0 {
		return nil
	}
	dfi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	dst, _ := infoOf(dfi)
	if dst.UID == 0 {
		return nil
	}
	if err := os.Lchown(path, int(dst.UID), int(dst.GID)); err != nil {
		return fmt.Errorf("give %s to the owner of %s (%s): %w", path, dir, userName(dst.UID), err)
	}
	return nil
}

// dirInfo is infoOf for a directory, with PrivateGroup looked up when the
// group may write.
func dirInfo(fi fs.FileInfo) Info {
	st, _ := infoOf(fi)
	if st.Mode.Perm()&0o020 != 0 {
		st.PrivateGroup = privateGroup(st.UID, st.GID)
	}
	return st
}
