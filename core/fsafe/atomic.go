package fsafe

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces dir/name with data, mode 0600: it writes a
// temporary file in dir (its name starts with a dot and ends in ".tmp"),
// gives it to dir's owner when root writes it (Adopt), flushes it, renames
// it over dir/name and flushes dir. A reader sees the old file or the new
// one, never a part, and a crash leaves one of the two.
func WriteFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := Adopt(tmp, dir); err != nil {
		_ = tmp.Close()
		return err
	}
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), werr)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	renamed = true
	return SyncDir(dir)
}
