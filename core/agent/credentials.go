package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
)

// Credentials are the credentials that `tocsin oauth login` stored for
// transports, by transport name.
type Credentials interface {
	// Credential returns the stored credential of transport, or "".
	Credential(transport string) (string, error)
	// SaveCredential replaces it, as when a provider rotates a refresh
	// token.
	SaveCredential(transport, value string) error
}

// TokenStore is the agent's Credentials: the encrypted token store under
// data_dir, with the key the agent block names. The store and its key are
// touched only when a token file is there to read, or a login to store:
// an agent without OAuth logins never reads or creates a key, and a
// problem with the key or the store is reported only against the
// transports that have a token file. Only Put (tocsin oauth login)
// creates a missing key file.
type TokenStore struct {
	dir string
	src tokenstore.KeySource

	mu    sync.Mutex
	store *tokenstore.Store
	// known is the token each transport was last handed or saved, so a
	// rotation by a plugin that still holds an older grant cannot
	// overwrite a newer login.
	known map[string]string
}

var _ Credentials = (*TokenStore)(nil)

// NewTokenStore returns the token store of an agent configured with a.
func NewTokenStore(a config.Agent) *TokenStore {
	file, env := a.TokenKey()
	return &TokenStore{dir: a.TokenDir(), src: tokenstore.KeySource{File: file, Env: env}, known: map[string]string{}}
}

// Dir is the store's directory.
func (s *TokenStore) Dir() string { return s.dir }

// KeySource says where the store's key lives.
func (s *TokenStore) KeySource() tokenstore.KeySource { return s.src }

// Open opens the store with its key. It never creates the key: a missing
// key file is an error wrapping tokenstore.ErrNoKey.
func (s *TokenStore) Open() (*tokenstore.Store, error) { return s.open(false) }

// open opens the store, creating the key file when create is set and it
// does not exist.
func (s *TokenStore) open(create bool) (*tokenstore.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store, nil
	}
	openStore := tokenstore.OpenKeySource
	if create {
		openStore = tokenstore.OpenForLogin
	}
	st, err := openStore(s.dir, s.src)
	if err != nil {
		return nil, err
	}
	s.store = st
	return st, nil
}

// hasToken reports whether transport has a token file (of whatever type:
// the store refuses one that is not a regular file). Nothing is read.
func (s *TokenStore) hasToken(transport string) (bool, error) {
	_, err := os.Lstat(filepath.Join(s.dir, transport+".token"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return false, nil
	}
	return false, fmt.Errorf("token store: %w", err)
}

// hasTokens reports whether the store's directory holds any token file.
func (s *TokenStore) hasTokens() (bool, error) {
	des, err := os.ReadDir(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("token store: %w", err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".token") && !strings.HasPrefix(de.Name(), ".") {
			return true, nil
		}
	}
	return false, nil
}

// Credential returns the refresh token stored for transport, or "" when
// it has no token file. Errors concern this transport's token.
func (s *TokenStore) Credential(transport string) (string, error) {
	if ok, err := s.hasToken(transport); !ok || err != nil {
		return "", err
	}
	st, err := s.Open()
	if err != nil {
		return "", err
	}
	e, ok, err := st.Get(transport)
	if err != nil || !ok {
		return "", err
	}
	s.remember(transport, e.RefreshToken)
	return e.RefreshToken, nil
}

func (s *TokenStore) remember(transport, token string) {
	s.mu.Lock()
	s.known[transport] = token
	s.mu.Unlock()
}

// Put stores a new login's entry; rotations are compared with its token
// from now on.
//
// Put is what tocsin oauth login calls: it creates the key file when it
// does not exist.
func (s *TokenStore) Put(e tokenstore.Entry) error {
	st, err := s.open(true)
	if err != nil {
		return err
	}
	if err := st.Put(e); err != nil {
		return err
	}
	s.remember(e.Transport, e.RefreshToken)
	return nil
}

// ErrNewerLogin is returned by SaveCredential when the stored token is no
// longer the one the transport was given: an operator logged in again
// meanwhile, and that login wins.
var ErrNewerLogin = errors.New("a newer tocsin oauth login replaced the token meanwhile; it is kept, and the transport uses it after the agent restarts")

// SaveCredential stores a rotated refresh token for transport, unless a
// newer login replaced the token the transport was given.
func (s *TokenStore) SaveCredential(transport, value string) error {
	st, err := s.Open()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old, ok := s.known[transport]
	s.mu.Unlock()
	if !ok {
		if err := st.Rotate(transport, value); err != nil {
			return err
		}
		s.remember(transport, value)
		return nil
	}
	swapped, err := st.CompareAndRotate(transport, old, value)
	if err != nil {
		return err
	}
	if !swapped {
		return ErrNewerLogin
	}
	s.remember(transport, value)
	return nil
}

// List returns what the store holds, without the tokens; nothing when no
// login has happened yet. With an error it still returns the entries it
// could read.
func (s *TokenStore) List() ([]tokenstore.Status, error) {
	if ok, err := s.hasTokens(); !ok || err != nil {
		return nil, err
	}
	st, err := s.Open()
	if err != nil {
		return nil, err
	}
	return st.List()
}
