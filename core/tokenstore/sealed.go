package tokenstore

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// MaxSealedSize caps a file SaveSealed writes and LoadSealed reads: the
// sealed file, envelope included, so that whatever SaveSealed wrote
// LoadSealed reads.
const MaxSealedSize = 16 << 20

// SaveSealed writes plain to dir/name encrypted under the key of src, in
// the envelope of a token file with ad as its additional data (so that
// the file does not decrypt under another name), mode 0600, atomically.
// It creates the key file when it does not exist, as a login does: what
// it stores holds secrets as a login does.
func SaveSealed(dir, name string, src KeySource, ad string, plain []byte) error {
	key, err := LoadOrCreateKey(src)
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	data, err := seal(aead, plain, []byte(ad))
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	if len(data) > MaxSealedSize {
		return fmt.Errorf("seal %s: %d bytes sealed, more than %d", name, len(data), MaxSealedSize)
	}
	if err := fsafe.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	if err := writeFileAtomic(dir, name, data); err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	return nil
}

// LoadSealed reads and decrypts what SaveSealed wrote at dir/name with
// the same ad. A missing file is an error wrapping fs.ErrNotExist; a
// wrong key or another ad wraps ErrWrongKey. The error never holds the
// content.
func LoadSealed(dir, name string, src KeySource, ad string) ([]byte, error) {
	path := filepath.Join(dir, name)
	data, err := fsafe.ReadFile(path, MaxSealedSize, fsafe.Secret)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, err := LoadKey(src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	plain, err := open(aead, data, []byte(ad))
	if errors.Is(err, ErrWrongKey) {
		return nil, fmt.Errorf("decrypt %s: %w: the key in %s is not the one it was written with", path, err, src)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return plain, nil
}
