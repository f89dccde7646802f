package tokenstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a [Key] in bytes.
const KeySize = 32

// generateHint tells an operator how to make a key.
const generateHint = "generate one with: head -c 32 /dev/urandom | base64"

// maxKeyFileSize bounds what LoadKey reads from a key file: a key is 32
// bytes, or 44 in base64 plus a line end.
const maxKeyFileSize = 4096

// Key is a 256-bit AES key.
//
// A Key prints as "[redacted]" with every fmt verb and in slog, so that it
// cannot end up in a log line by accident.
type Key [KeySize]byte

// Format writes "[redacted]" whatever the verb: the key bytes never reach
// fmt output.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted]") }

// LogValue keeps the key bytes out of slog output.
func (Key) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// KeySource says where the key lives: exactly one of File or Env.
type KeySource struct {
	// File is the path of a file holding the key: its base64 (standard or
	// URL alphabet, padded or not, surrounding white space ignored) or the
	// 32 raw bytes. LoadKey creates it when it does not exist.
	File string
	// Env is the name of an environment variable holding the key as base64
	// (standard or URL alphabet, padded or not) of 32 bytes.
	Env string
}

// String describes the source for messages: `key file "PATH"` or
// `environment variable NAME`.
func (src KeySource) String() string {
	switch {
	case src.File != "" && src.Env == "":
		return fmt.Sprintf("key file %q", src.File)
	case src.Env != "" && src.File == "":
		return "environment variable " + src.Env
	default:
		return "an invalid key source"
	}
}

// ErrKeySource is returned (wrapped) by LoadKey when the KeySource names
// both a file and an environment variable, or neither.
var ErrKeySource = errors.New("set exactly one of a key file or a key environment variable")

// LoadKey reads the key from src.
//
// A File that does not exist is created with a fresh random key (written as
// base64 and a newline), mode 0600, its parent directories created with
// mode 0700. The file appears atomically and is never overwritten: when
// several processes or goroutines race to create it, one wins and all of
// them return its key. A File that group or others may access is refused
// with an error telling the operator to chmod 600 it.
//
// An Env variable that is unset, empty or not the base64 of 32 bytes is an
// error naming the variable and saying how to generate a key.
//
// Errors never hold key bytes.
func LoadKey(src KeySource) (Key, error) {
	switch {
	case src.File != "" && src.Env == "":
		return loadKeyFile(src.File)
	case src.Env != "" && src.File == "":
		return loadKeyEnv(src.Env)
	default:
		return Key{}, fmt.Errorf("load token key: %w", ErrKeySource)
	}
}

// loadKeyEnv reads the key from the environment variable name.
func loadKeyEnv(name string) (Key, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		state := "is not set"
		if ok {
			state = "is empty"
		}
		return Key{}, fmt.Errorf("load token key: environment variable %s %s: set it to the base64 of 32 random bytes (%s)", name, state, generateHint)
	}
	k, ok := decodeKey(v)
	if !ok {
		return Key{}, fmt.Errorf("load token key: environment variable %s does not hold the base64 of 32 bytes (%s)", name, generateHint)
	}
	return k, nil
}

// loadKeyFile reads the key file at path, generating it first when it does
// not exist.
func loadKeyFile(path string) (Key, error) {
	k, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := createKeyFile(path); err != nil {
		return Key{}, err
	}
	// Read what is there now: our key, or the one of a process that
	// created the file first.
	return readKeyFile(path)
}

// readKeyFile reads and checks an existing key file. The error wraps
// fs.ErrNotExist when there is no file.
func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("load token key: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("load token key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("load token key: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("load token key: key file %s has mode %#o, which lets group or others read or change it: run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("load token key: read %s: %w", path, err)
	}
	defer clear(data)
	if len(data) == KeySize {
		return Key(data), nil
	}
	if len(data) <= maxKeyFileSize {
		if k, ok := decodeKey(string(data)); ok {
			return k, nil
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Key{}, fmt.Errorf("load token key: key file %s is empty: %s > %s (or remove it and tocsin creates one)", path, generateHint, path)
	}
	return Key{}, fmt.Errorf("load token key: key file %s holds neither 32 bytes nor their base64 (%s > %s)", path, generateHint, path)
}

// createKeyFile writes a fresh random key to path unless a file exists
// there. The key is written to a temporary file in the same directory that
// is then hard-linked to path, so that the file appears complete or not at
// all and an existing one is never replaced. Losing a race is not an error.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create token key: %w", err)
	}
	var k Key
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails on supported platforms
	text := []byte(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	clear(k[:])
	defer clear(text)

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create token key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := writeSynced(tmp, text); err != nil {
		return fmt.Errorf("create token key %s: %w", path, err)
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return nil // another process or goroutine was first
	default:
		// A file system without hard links: fall back to an exclusive
		// create. A racing reader may then see the file before it is
		// written, and fails with "empty" rather than using a wrong key.
		if err := createExclusive(path, text); err != nil {
			return fmt.Errorf("create token key %s: %w", path, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("create token key %s: %w", path, err)
	}
	return nil
}

// createExclusive writes data to a new file at path (mode 0600), or does
// nothing when a file exists there.
func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return writeSynced(f, data)
}

// decodeKey decodes s, surrounding white space ignored, as the base64 of
// 32 bytes in the standard or URL alphabet, padded or not.
func decodeKey(s string) (Key, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if enc.DecodedLen(len(s)) < KeySize {
			continue
		}
		b, err := enc.DecodeString(s)
		if err == nil && len(b) == KeySize {
			k := Key(b)
			clear(b)
			return k, true
		}
		clear(b)
	}
	return Key{}, false
}
