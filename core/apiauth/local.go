package apiauth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// LocalTokenName is the file in data_dir that holds the local CLI's admin
// token.
const LocalTokenName = "admin.token"

// LocalCredentialName is the name the agent gives the local token's
// credential (in audit lines and errors).
const LocalCredentialName = "local"

// LocalTokenPath returns the path of the local CLI's admin token in
// dataDir.
func LocalTokenPath(dataDir string) string {
	return filepath.Join(dataDir, LocalTokenName)
}

// EnsureLocalToken returns the local CLI's admin token, kept in
// LocalTokenPath(dataDir), and creates it first if there is none: a random
// 32-byte token written as hex and a newline, mode 0600, given to dataDir's
// owner when root creates it (fsafe.Adopt). The file appears complete or
// not at all and is never replaced: of several processes racing to create
// it, one wins and all return its token. An existing file is opened as
// fsafe opens the agent's files (no link followed, a trusted owner) and
// refused when its mode is more open than 0600. dataDir must exist. Errors
// never hold the token.
func EnsureLocalToken(dataDir string) (string, error) {
	path := LocalTokenPath(dataDir)
	secret, err := readLocalToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := createLocalToken(dataDir, path); err != nil {
		return "", err
	}
	// Read what is there now: ours, or that of a process that was first.
	return readLocalToken(path)
}

// readLocalToken reads and checks an existing local token file.
func readLocalToken(path string) (string, error) {
	f, err := fsafe.OpenFile(path, os.O_RDONLY, 0, fsafe.Secret)
	if err != nil {
		return "", fmt.Errorf("read local token: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read local token %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&^0o600 != 0 {
		return "", fmt.Errorf("read local token %s: mode %#o is more open than 0600: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	if err != nil {
		return "", fmt.Errorf("read local token %s: %w", path, err)
	}
	defer clear(data)
	s := strings.TrimSuffix(string(data), "\n")
	if len(s) < MinTokenLen || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("read local token %s: the file does not hold a token: remove it and restart the agent, which writes a new one", path)
	}
	return s, nil
}

// createLocalToken writes a fresh token to path unless a file is there: to
// a temporary file in dir, synced, then hard-linked to path, which fails
// rather than replace a file another process made first.
func createLocalToken(dir, path string) error {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	text := []byte(hex.EncodeToString(raw[:]) + "\n")
	clear(raw[:])
	defer clear(text)

	tmp, err := os.CreateTemp(dir, "."+LocalTokenName+".*.tmp") // mode 0600, O_EXCL
	if err != nil {
		return fmt.Errorf("create local token: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := fsafe.Adopt(tmp, dir); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("create local token %s: %w", path, err)
	}
	_, werr := tmp.Write(text)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("create local token %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process was first
		}
		return fmt.Errorf("create local token %s: %w", path, err)
	}
	if err := fsafe.SyncDir(dir); err != nil {
		return fmt.Errorf("create local token %s: %w", path, err)
	}
	return nil
}
