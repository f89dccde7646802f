package boltsalvage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// Replace puts the salvaged file tmp in the place of the damaged file at
// path, which it gives the name path.corrupt-<now> (UTC, 20060102T150405Z;
// with a number added when that is taken), and returns that name. At
// every moment path holds either the damaged file or the complete new
// one, where the file system has hard links. When the damaged file cannot
// be moved, tmp is removed; when tmp cannot take its place, the error
// says where both files are.
func Replace(path, tmp string, now time.Time) (string, error) {
	moved, err := moveAside(path, now)
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("move it aside: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return moved, fmt.Errorf("the damaged file is now %s; put the salvaged %s in its place by hand: %w", moved, tmp, err)
	}
	if err := fsafe.SyncDir(filepath.Dir(path)); err != nil {
		return moved, err
	}
	return moved, nil
}

// moveAside gives the file at path the name path.corrupt-<now> (with a
// number added when that is taken) and returns it. It links the new name
// first, so that path itself stays until the new file replaces it.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		if i > 100 {
			return "", err
		}
		name = base + "-" + strconv.Itoa(i)
	}
	// No hard links here: rename, which leaves path missing until the new
	// file takes its place.
	if _, err := os.Lstat(name); err == nil {
		return "", fmt.Errorf("%s exists", name)
	}
	if err := os.Rename(path, name); err != nil {
		return "", err
	}
	return name, nil
}
