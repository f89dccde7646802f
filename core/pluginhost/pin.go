package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// pinned is a plugin executable opened once: the host hashes this open
// file and executes this same file through its descriptor, so swapping a
// symlink or renaming another file over the path between the check and
// the start cannot run a file that was not checked.
//
// What a pin covers:
//
//   - A binary: every byte the kernel loads from the plugin file. Shared
//     libraries it links dynamically are not covered (the bundled plugins
//     are static Go binaries).
//   - A script (a file starting with "#!"): the script's own bytes, which
//     the interpreter reads from the same descriptor (/proc/self/fd/3, open
//     in the plugin process for its lifetime). Not the interpreter named on
//     the "#!" line, and not any file the script reads, imports or
//     executes: pin the program a wrapper script runs by other means, or
//     point the transport at that program directly.
//
// The pin is about the path: no swap of a symlink, directory or file
// under it can make the host run a file other than the one it hashed. It
// is not a defence against someone who can write to the plugin file
// itself. The file's size, modification and change times are read before
// the hash and again once the process runs, and a file written in place
// in between is refused, but the kernel's file clock is coarse (a few
// milliseconds), and a write after the start is not seen at all: keep
// plugin files and their directories writable only by root.
type pinned struct {
	path string
	f    *os.File
	info os.FileInfo
}

// openPinned opens the executable at path and, when pin is set, checks
// the open file against the hex SHA-256 pin.
func openPinned(path, pin string) (*pinned, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open plugin: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open plugin: %w", err)
	}
	if !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
		f.Close()
		return nil, fmt.Errorf("plugin %s is not an executable file", path)
	}
	p := &pinned{path: path, f: f, info: info}
	if pin != "" {
		if err := p.verify(pin); err != nil {
			f.Close()
			return nil, err
		}
	}
	return p, nil
}

// verify hashes the open file and compares it with pin.
func (p *pinned) verify(pin string) error {
	want, err := hex.DecodeString(strings.TrimSpace(pin))
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("sha256 pin %q is not 64 hex digits", pin)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(p.f, 0, 1<<62)); err != nil {
		return fmt.Errorf("checksum %s: %w", p.path, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != hex.EncodeToString(want) {
		return &ChecksumError{Path: p.path, Pinned: hex.EncodeToString(want), Computed: got}
	}
	return nil
}

// unchanged reports an error when the file changed since it was opened.
func (p *pinned) unchanged() error {
	now, err := p.f.Stat()
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.path, err)
	}
	if now.Size() != p.info.Size() || !now.ModTime().Equal(p.info.ModTime()) || changeTime(now) != changeTime(p.info) {
		return fmt.Errorf("plugin %s %w; start it again, and find out who writes to it", p.path, errChanged)
	}
	return nil
}

// Close closes the file; the running plugin keeps its own descriptor.
func (p *pinned) Close() error { return p.f.Close() }
