package facts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/zclconf/go-cty/cty"
)

// checkFile reads a local file. Values: path, exists, content (cut at
// max_bytes), json (the content parsed when JSON is asked; else null),
// mtime, age (seconds since mtime), size (bytes). It succeeds when the file
// exists, is a regular file, can be read and, when JSON is asked, parses.
// Only regular files are read, so a FIFO cannot block the check.
func checkFile(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error {
	f := s.File
	fi, err := os.Stat(f.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			v["exists"] = cty.False
		}
		return err
	}
	v["exists"] = cty.True
	v["size"] = cty.NumberIntVal(fi.Size())
	v["mtime"] = timeVal(fi.ModTime())
	v["age"] = secondsVal(e.now().Sub(fi.ModTime()))
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", f.Path, fi.Mode().Type())
	}

	fh, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	data, truncated, err := readCapped(ctx, fh, f.MaxBytes)
	v["content"] = stringVal(string(data))
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	if !f.JSON {
		return nil
	}
	if truncated {
		return fmt.Errorf("parse %s as json: %w (file.max_bytes is %d)", f.Path, errTruncated, f.MaxBytes)
	}
	jv, err := jsonValue(data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	v["json"] = jv
	return nil
}
