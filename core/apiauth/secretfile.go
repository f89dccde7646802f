package apiauth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFile bounds what ReadSecretFile reads: a token is a line.
const maxSecretFile = 4096

// ReadSecretFile reads a token from the file at path and returns it without
// its trailing newline. The file must be a regular file that group and
// others cannot read (mode & 0o077 == 0); another one is refused with the
// chmod that fixes it. An empty file is refused. Errors never hold the
// file's contents.
func ReadSecretFile(path string) (string, error) {
	// A FIFO would block the open: look before opening, then check the
	// open file itself, so that a swap in between is caught.
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("read token file %s: not a regular file (%v)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fst, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read token file %s: %w", path, err)
	}
	if !os.SameFile(st, fst) || !fst.Mode().IsRegular() {
		return "", fmt.Errorf("read token file %s: the file changed while it was opened", path)
	}
	if perm := fst.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("read token file %s: mode %#o lets group or others read it: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read token file %s: %w", path, err)
	}
	defer clear(data)
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("read token file %s: larger than %d bytes: a token file holds one line", path, maxSecretFile)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("read token file %s: %w: %s > %s", path, errEmptyToken, "openssl rand -hex 32", path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("read token file %s: more than one line: a token file holds the token and a newline", path)
	}
	return s, nil
}

// errEmptyToken is wrapped when a token file holds nothing.
var errEmptyToken = errors.New("the file is empty")
