package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/tocsin-dev/tocsin/core/config"
)

// exitUnformatted is fmt -check's answer when a file is not in canonical
// form, as terraform fmt -check answers: CI tells it from a failure (1)
// and a wrong command line (2).
const exitUnformatted = 3

type fmtCommand struct{ meta }

func (c *fmtCommand) Synopsis() string { return "Rewrite HCL files in canonical form" }

func (c *fmtCommand) Help() string {
	return `Usage: tocsin fmt [-check] [-diff] [PATH...]

  Rewrites configuration and rule test files in the canonical layout of
  HCL (hclwrite), as terraform fmt does: indentation, aligned equals
  signs, spacing. A directory stands for the *.hcl files in it and below
  it (hidden ones skipped); no PATH is the current directory; - reads
  standard input and writes the result to standard output. Prints the
  name of each file it rewrote.

  A file with a syntax error is reported at file:line:col and left as it
  is; the other files are still formatted.

  Exits 0 when done, 1 when a file could not be read, parsed or written,
  3 with -check when a file is not formatted.

Options:

  -check   Write nothing: list the files that are not formatted.
  -diff    Print the changes as a unified diff (diff -u).`
}

func (c *fmtCommand) Run(args []string) int {
	fs := c.flags("fmt", c.Help())
	check := fs.Bool("check", false, "")
	diff := fs.Bool("diff", false, "")
	paths, code, ok := c.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	f := formatter{meta: c.meta, check: *check, diff: *diff}
	for _, p := range paths {
		f.path(p)
	}
	switch {
	case f.failed:
		return exitError
	case *check && f.unformatted:
		return exitUnformatted
	}
	return exitOK
}

// formatter formats the files of one fmt run.
type formatter struct {
	meta
	check, diff bool
	// failed and unformatted are what the run found so far.
	failed, unformatted bool
}

// path formats a file, the *.hcl files under a directory, or standard
// input for "-".
func (f *formatter) path(p string) {
	if p == "-" {
		src, err := io.ReadAll(os.Stdin)
		if err != nil {
			f.fail("read standard input: %v", err)
			return
		}
		f.source("<stdin>", src, func(out []byte) error {
			_, err := f.stdout.Write(out)
			return err
		})
		return
	}
	info, err := os.Stat(p)
	if err != nil {
		f.fail("%v", err)
		return
	}
	if !info.IsDir() {
		f.file(p)
		return
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := path != p && strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && hidden:
			return filepath.SkipDir
		case !d.IsDir() && !hidden && d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".hcl"):
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		f.fail("%v", err)
	}
	sort.Strings(files)
	for _, file := range files {
		f.file(file)
	}
}

// file formats one file in place.
func (f *formatter) file(path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		f.fail("%v", err)
		return
	}
	f.source(path, src, func(out []byte) error { return replaceFile(path, out) })
}

// source formats src, named name in messages, and hands a changed result
// to write unless -check.
func (f *formatter) source(name string, src []byte, write func([]byte) error) {
	if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
		_ = config.WriteDiagnostics(f.stderr, map[string][]byte{name: src}, diags)
		f.failed = true
		return
	}
	out := hclwrite.Format(src)
	changed := !bytes.Equal(src, out)
	if changed {
		f.unformatted = true
		if name != "<stdin>" {
			fmt.Fprintln(f.stdout, name)
		}
		if f.diff {
			if err := f.printDiff(name, src, out); err != nil {
				f.fail("diff %s: %v", name, err)
			}
		}
	}
	if f.check || (!changed && name != "<stdin>") {
		return
	}
	if err := write(out); err != nil {
		f.fail("write %s: %v", name, err)
	}
}

func (f *formatter) fail(format string, args ...any) {
	fmt.Fprintf(f.stderr, "Error: "+format+"\n", args...)
	f.failed = true
}

// printDiff prints the change from old to new as diff -u does, with the
// diff tool (diffutils is essential on Debian), as terraform fmt -diff.
func (f *formatter) printDiff(name string, old, new []byte) error {
	dir, err := os.MkdirTemp("", "tocsin-fmt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, b := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	if err := os.WriteFile(a, old, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b, new, 0o600); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	label := strings.TrimPrefix(filepath.ToSlash(name), "/")
	out, err := exec.CommandContext(ctx, "diff", "-u", "--label", "old/"+label, "--label", "new/"+label, a, b).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		err = nil // 1 means the files differ
	}
	if err != nil {
		return fmt.Errorf("run diff: %w", err)
	}
	_, err = f.stdout.Write(out)
	return err
}

// replaceFile replaces the file at path (the file a symbolic link points
// to) with data: a reader, such as an agent reloading, sees the old file
// or the new one, never a part. The new file keeps the old one's mode, and
// its owner when the caller may give it.
func replaceFile(path string, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	info, err := os.Stat(real)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(real)
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // only root may; others keep their own
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), real); err != nil {
		return err
	}
	done = true
	return nil
}
