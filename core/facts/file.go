package facts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/zclconf/go-cty/cty"
)

// KindFile is the kind that reads a local file.
const KindFile Kind = "file"

// FileSpec is a check of a local file.
type FileSpec struct {
	// Path is the file's path.
	Path string
	// JSON asks for the content to be parsed as JSON; the check fails
	// when it does not parse.
	JSON bool
	// MaxBytes caps how much of the file is read; default
	// DefaultFileMaxBytes.
	MaxBytes int64
}

// DefaultFileMaxBytes is FileSpec.MaxBytes when it is left zero.
const DefaultFileMaxBytes = 1 << 20

func init() {
	register(60, &kindDef{
		name: KindFile,
		args: []Arg{
			{Name: "file", Main: true, Type: cty.String, Field: "file.path", Set: func(s *Spec, v cty.Value, c ArgContext) error {
				s.File = &FileSpec{Path: c.path(v.AsString())}
				return nil
			}},
			{Name: "json", Type: cty.Bool, Set: setBool(func(s *Spec) *bool { return &s.File.JSON })},
			maxBytesArg("file.max_bytes", func(s *Spec) *int64 { return &s.File.MaxBytes }),
		},
		values: map[string]cty.Type{
			"path":    cty.String,
			"exists":  cty.Bool,
			"content": cty.String,
			"json":    cty.DynamicPseudoType,
			"mtime":   cty.String,
			"age":     cty.Number,
			"size":    cty.Number,
		},
		volatile: []string{"age"},
		has:      func(s Spec) bool { return s.File != nil },
		defaults: func(s Spec) Spec {
			c := *s.File
			if c.MaxBytes == 0 {
				c.MaxBytes = DefaultFileMaxBytes
			}
			s.File = &c
			return s
		},
		valid: func(s Spec, add addFunc) {
			f := s.File
			if f.Path == "" {
				add("file.path", "must be set")
			}
			if f.MaxBytes < 0 {
				add("file.max_bytes", "must be positive, not %d", f.MaxBytes)
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.File != nil {
				v["path"] = stringVal(s.File.Path)
			}
		},
		run: checkFile,
	})
}

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
