package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxFileSize bounds what file() reads: it is meant for secrets,
// certificates and keys, not for data.
const maxFileSize = 4 << 20

// evalContext returns the evaluation context of one config file. dir is the
// file's directory (absolute), shownDir the same directory as the operator
// reaches it, for messages; lookupEnv reads the environment.
// read, when not nil, is told what each file() call read.
func evalContext(dir, shownDir string, lookupEnv func(string) (string, bool), read func(string)) *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":       envFunc(lookupEnv),
			"file":      fileFunc(dir, shownDir, read),
			"upper":     stdlib.UpperFunc,
			"lower":     stdlib.LowerFunc,
			"trimspace": stdlib.TrimSpaceFunc,
			"join":      stdlib.JoinFunc,
			"split":     stdlib.SplitFunc,
			"format":    stdlib.FormatFunc,
			"concat":    stdlib.ConcatFunc,
		},
	}
}

// envFunc is env(name) and env(name, default): the value of an environment
// variable. An unset variable without a default is an error; a variable set
// to the empty string is the empty string.
func envFunc(lookupEnv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is not set.",
		Params: []function.Parameter{
			{Name: "name", Type: cty.String},
		},
		VarParam: &function.Parameter{Name: "default", Type: cty.String},
		Type:     function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
			}
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the name of the environment variable is empty")
			}
			if v, ok := lookupEnv(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %q is not set; set it, or give a default as in env(%q, \"default\")", name, name)
		},
	})
}

// fileFunc is file(path): the content of a text file. A relative path is
// relative to dir, the directory of the config file. read, when not nil,
// is told what was read, so that diagnostics never echo it.
func fileFunc(dir, shownDir string, read func(string)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the content of a text file; a relative path is relative to the config file's directory.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if p == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the path is empty")
			}
			full, shown := p, p
			if !filepath.IsAbs(p) {
				full = filepath.Join(dir, p)
				shown = filepath.Join(shownDir, p)
			}
			b, err := readTextFile(full)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, fmt.Errorf("read file %q: %w", shown, err))
			}
			if read != nil {
				read(string(b))
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// readTextFile reads a regular UTF-8 file of at most maxFileSize bytes. Its
// errors do not repeat the path.
func readTextFile(path string) ([]byte, error) {
	// Open without blocking (a FIFO would block an ordinary open) and
	// check what was opened, not the path, which may change in between.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8 text")
	}
	return b, nil
}

// unwrapPathError drops the operation and path of an *fs.PathError, which
// the caller names itself.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// maxFileReadParts is how many lines or parts of a file() read are kept
// for scrubbing, besides the whole content.
const maxFileReadParts = 256

// fileReadSecrets returns the forms in which content read by file() could
// appear in a diagnostic: whole, and each of its lines and NUL-separated
// parts (as /proc/self/environ has them), raw and as %q writes them.
func fileReadSecrets(content string) []string {
	var out []string
	add := func(s string) {
		if len(s) < minSecretLen {
			return
		}
		out = append(out, s)
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			out = append(out, q[1:len(q)-1])
		}
	}
	add(content)
	add(strings.TrimSpace(content))
	// Secrets, keys and environments are short: the first parts are
	// enough, and a big file would make every message slow to scrub.
	parts := strings.FieldsFunc(content, func(r rune) bool { return r == '\n' || r == 0 || r == '\r' })
	for _, part := range parts[:min(len(parts), maxFileReadParts)] {
		if part != content {
			add(strings.TrimSpace(part))
		}
	}
	return out
}
