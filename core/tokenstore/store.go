package tokenstore

import (
	"cmp"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// fileSuffix ends the name of every token file: DIR/<transport>.token.
const fileSuffix = ".token"

// maxTokenFileSize bounds what is read of a token file: an envelope holds
// a refresh token of a few KiB.
const maxTokenFileSize = 1 << 20

// ErrNotFound is returned (wrapped) by Rotate and CompareAndRotate when no
// token is stored for the transport.
var ErrNotFound = errors.New("no token stored")

// Store is a directory of encrypted token files, one per transport:
// DIR/<transport>.token, mode 0600, in a directory of mode 0700.
//
// A Store is safe for concurrent use. Within a process it serialises its
// writes, so a Rotate never loses a concurrent Put's fields; across
// processes every write is atomic (temporary file, fsync, rename, fsync of
// the directory) and the last one wins. Reads go to the disk every time,
// so a Store sees what another process (tocsin oauth login) stored.
type Store struct {
	dir     string
	keyDesc string // where the key came from, for the wrong-key message
	aead    cipher.AEAD
	now     func() time.Time

	mu sync.Mutex // held by every read-modify-write and write
}

// Option configures a Store in Open.
type Option func(*Store) error

// WithKeySource says where the key came from, so that a token that does
// not decrypt is reported as "the key in <src> is not the one the token
// was stored with".
func WithKeySource(src KeySource) Option {
	return func(s *Store) error {
		s.keyDesc = src.String()
		return nil
	}
}

// WithClock sets the clock that stamps ObtainedAt and RefreshedAt
// (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(s *Store) error {
		if now == nil {
			return errors.New("nil clock")
		}
		s.now = now
		return nil
	}
}

// Open returns the Store in dir. The directory is created (mode 0700,
// with its missing parents) by the first write, not here; an existing one
// keeps its mode, and is refused when it is a link, or its owner or mode
// would let another user change the tokens (see package fsafe). Open
// reads no token file: a wrong key shows in Get and List.
func Open(dir string, key Key, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open token store: no directory")
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("open token store %s: %w", dir, err)
	}
	s := &Store{dir: dir, aead: aead, now: time.Now}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, fmt.Errorf("open token store %s: %w", dir, err)
		}
	}
	if err := fsafe.CheckDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open token store: %w", err)
	}
	return s, nil
}

// OpenKeySource loads the key from src with LoadKey, which never creates
// one, and opens the Store in dir with it, WithKeySource(src) first among
// opts. Everything that only reads tokens uses it.
func OpenKeySource(dir string, src KeySource, opts ...Option) (*Store, error) {
	key, err := LoadKey(src)
	if err != nil {
		return nil, err
	}
	return Open(dir, key, append([]Option{WithKeySource(src)}, opts...)...)
}

// OpenForLogin is OpenKeySource for a command that stores a login: it
// creates the key file when it does not exist (LoadOrCreateKey).
func OpenForLogin(dir string, src KeySource, opts ...Option) (*Store, error) {
	key, err := LoadOrCreateKey(src)
	if err != nil {
		return nil, err
	}
	return Open(dir, key, append([]Option{WithKeySource(src)}, opts...)...)
}

// Dir returns the directory of the Store.
func (s *Store) Dir() string { return s.dir }

// path returns the file of transport, which must be valid.
func (s *Store) path(transport string) string {
	return filepath.Join(s.dir, transport+fileSuffix)
}

// Get returns the entry stored for transport; false (and no error) when
// none is. An error names the file: a wrong key wraps ErrWrongKey.
func (s *Store) Get(transport string) (Entry, bool, error) {
	if err := checkTransport(transport); err != nil {
		return Entry{}, false, fmt.Errorf("get token: %w", err)
	}
	return s.read(transport)
}

// read reads and decrypts the file of the valid transport name.
func (s *Store) read(transport string) (Entry, bool, error) {
	path := s.path(transport)
	// No link followed, no FIFO blocking, only a regular file of a
	// trusted owner that others cannot read.
	data, err := fsafe.ReadFile(path, maxTokenFileSize, fsafe.Secret)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("read token: %w", err)
	}
	plain, err := open(s.aead, data, []byte(transport))
	switch {
	case errors.Is(err, ErrWrongKey):
		key := "the key"
		if s.keyDesc != "" {
			key = "the key in " + s.keyDesc
		}
		return Entry{}, false, fmt.Errorf("decrypt %s: %w: %s is not the one the token was stored with; run tocsin oauth login again", path, err, key)
	case err != nil:
		return Entry{}, false, fmt.Errorf("decode %s: %w", path, err)
	}
	defer clear(plain)
	var r record
	if err := json.Unmarshal(plain, &r); err != nil {
		// The error of json.Unmarshal may quote the plaintext: leave it out.
		return Entry{}, false, fmt.Errorf("decode %s: the decrypted content is not a token record", path)
	}
	if r.Transport != transport {
		return Entry{}, false, fmt.Errorf("decode %s: holds the token of transport %q", path, r.Transport)
	}
	return r.entry(), true, nil
}

// Put stores e, replacing what is stored for e.Transport. A zero
// ObtainedAt is set to the current time. The refresh token must not be
// empty.
func (s *Store) Put(e Entry) error {
	if err := checkTransport(e.Transport); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	if e.RefreshToken == "" {
		return fmt.Errorf("store token of transport %q: empty refresh token", e.Transport)
	}
	if e.ObtainedAt.IsZero() {
		e.ObtainedAt = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(e)
}

// write encrypts e and replaces its file. s.mu must be held.
func (s *Store) write(e Entry) error {
	plain, err := json.Marshal(toRecord(e))
	if err != nil {
		return fmt.Errorf("store token of transport %q: %w", e.Transport, err)
	}
	data, err := seal(s.aead, plain, []byte(e.Transport))
	clear(plain)
	if err != nil {
		return fmt.Errorf("store token of transport %q: %w", e.Transport, err)
	}
	if err := fsafe.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("store token of transport %q: %w", e.Transport, err)
	}
	if err := fsafe.CheckDir(s.dir); err != nil {
		return fmt.Errorf("store token of transport %q: %w", e.Transport, err)
	}
	if err := writeFileAtomic(s.dir, e.Transport+fileSuffix, data); err != nil {
		return fmt.Errorf("store token of transport %q: %w", e.Transport, err)
	}
	return nil
}

// Rotate replaces the refresh token stored for transport, keeping the
// other fields, and sets RefreshedAt to the current time. With no entry
// stored it returns an error wrapping ErrNotFound.
//
// Rotate replaces whatever is stored, even a token that `tocsin oauth
// login` stored since the caller read its own: use CompareAndRotate when
// the token being replaced is known.
func (s *Store) Rotate(transport, refreshToken string) error {
	_, err := s.rotate(transport, refreshToken, func(Entry) bool { return true })
	return err
}

// CompareAndRotate is Rotate, done only if the stored refresh token is
// old: it reports false, storing nothing, when another token has been
// stored since (a new login, or another rotation). The agent passes the
// token it was using, so that a rotation never overwrites a login the
// operator made meanwhile. The comparison and the write are atomic within
// the process, not against another process writing at the same instant.
func (s *Store) CompareAndRotate(transport, old, refreshToken string) (bool, error) {
	return s.rotate(transport, refreshToken, func(e Entry) bool { return e.RefreshToken == old })
}

// rotate implements Rotate and CompareAndRotate: it replaces the stored
// token if ok accepts the stored entry.
func (s *Store) rotate(transport, refreshToken string, ok func(Entry) bool) (bool, error) {
	if err := checkTransport(transport); err != nil {
		return false, fmt.Errorf("rotate token: %w", err)
	}
	if refreshToken == "" {
		return false, fmt.Errorf("rotate token of transport %q: empty refresh token", transport)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found, err := s.read(transport)
	if err != nil {
		return false, fmt.Errorf("rotate token: %w", err)
	}
	if !found {
		return false, fmt.Errorf("rotate token of transport %q: %w: run tocsin oauth login", transport, ErrNotFound)
	}
	if !ok(e) {
		return false, nil
	}
	e.RefreshToken = refreshToken
	e.RefreshedAt = s.now()
	if err := s.write(e); err != nil {
		return false, err
	}
	return true, nil
}

// Delete removes the token of transport. Deleting a token that is not
// stored is not an error.
func (s *Store) Delete(transport string) error {
	if err := checkTransport(transport); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(s.path(transport))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if err := fsafe.SyncDir(s.dir); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// List returns the status of every stored token, sorted by transport. It
// looks only at files named <valid transport name>.token. A file that
// cannot be read or decrypted is left out of the result and reported in
// the error, which names every such file; the statuses of the other files
// are returned with it.
func (s *Store) List() ([]Status, error) {
	des, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no login yet
	}
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var (
		out  []Status
		errs []error
	)
	for _, de := range des {
		transport, ok := strings.CutSuffix(de.Name(), fileSuffix)
		if !ok || checkTransport(transport) != nil {
			continue
		}
		e, found, err := s.read(transport)
		switch {
		case err != nil:
			errs = append(errs, err)
		case found:
			out = append(out, e.Status())
		}
	}
	// Not the order of the file names: "a-b.token" comes before "a.token".
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Transport, b.Transport) })
	return out, errors.Join(errs...)
}
