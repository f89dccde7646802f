package tokenstore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// syncFile and syncDir flush a file and a directory; tests replace them to
// see when a write is made durable, which nothing else can observe.
var (
	syncFile = (*os.File).Sync
	syncDir  = fsafe.SyncDir
)

// writeSynced writes data to f, sets its mode to 0600, flushes it to disk
// and closes it.
func writeSynced(f *os.File, data []byte) error {
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o600)
	}
	if werr == nil {
		werr = syncFile(f)
	}
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write %s: %w", f.Name(), werr)
	}
	if cerr != nil {
		return fmt.Errorf("write %s: %w", f.Name(), cerr)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data (mode 0600): it writes a
// temporary file in dir, flushes it, renames it over dir/name and flushes
// dir, so that a reader sees the old file or the new one, never a part,
// and a crash leaves one of the two. The temporary file starts with a dot
// and ends in ".tmp".
func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmp.Name())
		}
	}()
	// Root writing in the agent's directory gives the file to its owner.
	if err := fsafe.Adopt(tmp, dir); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}
