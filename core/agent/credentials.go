package agent

import (
	"errors"
	"fmt"
	"os"
	"sync"

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
// touched only when a token is there to read or to write, so an agent
// without OAuth logins never creates a key.
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

// Open opens the store, loading (or, on first use, generating) its key.
func (s *TokenStore) Open() (*tokenstore.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store, nil
	}
	st, err := tokenstore.OpenKeySource(s.dir, s.src)
	if err != nil {
		return nil, err
	}
	s.store = st
	return st, nil
}

// exists reports whether the store's directory exists: before the first
// login it does not, and there is nothing to read.
func (s *TokenStore) exists() (bool, error) {
	_, err := os.Stat(s.dir)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("token store: %w", err)
}

// Credential returns the refresh token stored for transport, or "".
func (s *TokenStore) Credential(transport string) (string, error) {
	if ok, err := s.exists(); !ok || err != nil {
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
func (s *TokenStore) Put(e tokenstore.Entry) error {
	st, err := s.Open()
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
	if ok, err := s.exists(); !ok || err != nil {
		return nil, err
	}
	st, err := s.Open()
	if err != nil {
		return nil, err
	}
	return st.List()
}
