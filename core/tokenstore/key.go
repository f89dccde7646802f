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

	"github.com/tocsin-dev/tocsin/core/fsafe"
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
	// 32 raw bytes. LoadOrCreateKey creates it when it does not exist.
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

// ErrNoKey is returned (wrapped) by LoadKey when the key file does not
// exist. The error also matches fs.ErrNotExist.
var ErrNoKey = errors.New("the token key file does not exist")

// noKeyError is LoadKey's error for a missing key file: it matches both
// ErrNoKey and fs.ErrNotExist.
type noKeyError struct{ path string }

// Error implements error.
func (e *noKeyError) Error() string {
	return fmt.Sprintf("load token key: key file %s does not exist: "+
		"tocsin oauth login creates it when it stores the first login, and the tokens stored with it cannot be decrypted without it. "+
		"Restore it from a backup, or run tocsin oauth login again for each transport that needs a login", e.path)
}

// Is matches ErrNoKey and fs.ErrNotExist.
func (e *noKeyError) Is(target error) bool { return target == ErrNoKey || target == fs.ErrNotExist }

// LoadKey reads the key from src. It never creates a key: a key file that
// does not exist is an error wrapping ErrNoKey and fs.ErrNotExist, which
// says that tokens stored before cannot be decrypted without it (a new key
// would only make them fail later). [LoadOrCreateKey] creates it.
//
// The key file is opened without following a link and without blocking
// (a FIFO is refused), and must be a regular file of a trusted owner that
// others cannot read and group and others cannot write; its group may read
// it only when root owns it (root:tocsin 0640). See package fsafe.
//
// An Env variable that is unset, empty or not the base64 of 32 bytes is an
// error naming the variable and saying how to generate a key.
//
// Errors never hold key bytes.
func LoadKey(src KeySource) (Key, error) {
	switch {
	case src.File != "" && src.Env == "":
		return readKeyFile(src.File)
	case src.Env != "" && src.File == "":
		return loadKeyEnv(src.Env)
	default:
		return Key{}, fmt.Errorf("load token key: %w", ErrKeySource)
	}
}

// LoadOrCreateKey is LoadKey, except that a File that does not exist is
// created with a fresh random key (written as base64 and a newline), mode
// 0600, its missing parent directories created with mode 0700; when root
// creates them in a directory of another user, they are given to that
// user (fsafe.Adopt). The file appears atomically and is never
// overwritten: when several processes or goroutines race to create it,
// one wins and all of them return its key. Only the commands that store a
// login call it.
func LoadOrCreateKey(src KeySource) (Key, error) {
	if src.File == "" || src.Env != "" {
		return LoadKey(src)
	}
	k, err := readKeyFile(src.File)
	if !errors.Is(err, ErrNoKey) {
		return k, err
	}
	if err := createKeyFile(src.File); err != nil {
		return Key{}, err
	}
	// Read what is there now: our key, or the one of a process that
	// created the file first.
	return readKeyFile(src.File)
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

// readKeyFile reads and checks an existing key file. The error wraps
// ErrNoKey and fs.ErrNotExist when there is no file.
func readKeyFile(path string) (Key, error) {
	data, err := fsafe.ReadFile(path, 16*maxKeyFileSize, fsafe.Secret)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Key{}, &noKeyError{path: path}
	case err != nil:
		return Key{}, fmt.Errorf("load token key: %w", err)
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
		return Key{}, fmt.Errorf("load token key: key file %s is empty: %s > %s (or remove it and run tocsin oauth login, which creates one)", path, generateHint, path)
	}
	return Key{}, fmt.Errorf("load token key: key file %s holds neither 32 bytes nor their base64 (%s > %s)", path, generateHint, path)
}

// createKeyFile writes a fresh random key to path unless a file exists
// there. The key is written to a temporary file in the same directory that
// is then hard-linked to path, so that the file appears complete or not at
// all and an existing one is never replaced. Losing a race is not an error.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := fsafe.MkdirAll(dir, 0o700); err != nil {
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
	if err := fsafe.Adopt(tmp, dir); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("create token key %s: %w", path, err)
	}
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
	if err := fsafe.SyncDir(dir); err != nil {
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
	if err := fsafe.Adopt(f, filepath.Dir(path)); err != nil {
		_ = f.Close()
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
