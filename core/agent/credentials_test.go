package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/fsafe"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
)

func TestTokenStore_NoLoginTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	s := NewTokenStore(config.Agent{DataDir: dir})
	cred, err := s.Credential("m365")
	if err != nil || cred != "" {
		t.Fatalf("Credential = %q, %v; want empty, nil", cred, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("data_dir holds %v after reads without a login; want nothing (no key generated)", entries)
	}
}

func TestTokenStore_LoginRotateAndNewerLogin(t *testing.T) {
	dir := t.TempDir()
	a := config.Agent{DataDir: dir}
	login := NewTokenStore(a)
	if err := login.Put(tokenstore.Entry{Transport: "m365", RefreshToken: "rt-1", Account: "alerts@contoso.example"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "token.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want generated with mode 0600", st, err)
	}

	// The agent reads the login and stores the plugin's rotations.
	running := NewTokenStore(a)
	cred, err := running.Credential("m365")
	if err != nil || cred != "rt-1" {
		t.Fatalf("Credential = %q, %v; want rt-1", cred, err)
	}
	if err := running.SaveCredential("m365", "rt-2"); err != nil {
		t.Fatal(err)
	}
	if err := running.SaveCredential("m365", "rt-3"); err != nil {
		t.Fatal(err)
	}
	if got, _ := NewTokenStore(a).Credential("m365"); got != "rt-3" {
		t.Errorf("after rotations the store holds %q, want rt-3", got)
	}

	// An operator logs in again while the agent runs: the agent's next
	// rotation of the old grant must not overwrite the new login.
	if err := NewTokenStore(a).Put(tokenstore.Entry{Transport: "m365", RefreshToken: "rt-new"}); err != nil {
		t.Fatal(err)
	}
	if err := running.SaveCredential("m365", "rt-4"); !errors.Is(err, ErrNewerLogin) {
		t.Errorf("stale rotation: err = %v, want ErrNewerLogin", err)
	}
	if got, _ := NewTokenStore(a).Credential("m365"); got != "rt-new" {
		t.Errorf("store holds %q, want the newer login's rt-new", got)
	}
}

func TestTokenStore_KeyFromEnvironment(t *testing.T) {
	t.Setenv("TOCSIN_TEST_TOKEN_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	dir := t.TempDir()
	s := NewTokenStore(config.Agent{DataDir: dir, TokenKeyEnv: "TOCSIN_TEST_TOKEN_KEY"})
	if err := s.Put(tokenstore.Entry{Transport: "g", RefreshToken: "1//rt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "token.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written although token_key_env is set: %v", err)
	}
	t.Setenv("TOCSIN_TEST_TOKEN_KEY", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	if _, err := NewTokenStore(config.Agent{DataDir: dir, TokenKeyEnv: "TOCSIN_TEST_TOKEN_KEY"}).Credential("g"); !errors.Is(err, tokenstore.ErrWrongKey) {
		t.Errorf("another key: err = %v, want ErrWrongKey", err)
	}
}

// A missing key is reported, not generated, by everything but a login,
// and only against the transports that have a token (issue 11, 19 and 22).
func TestTokenStore_MissingKeyNotGenerated(t *testing.T) {
	dir := t.TempDir()
	a := config.Agent{DataDir: dir}
	if err := NewTokenStore(a).Put(tokenstore.Entry{Transport: "m365", RefreshToken: "rt-1"}); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "token.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	s := NewTokenStore(a)
	// A transport without a login is not concerned.
	if cred, err := s.Credential("basic"); err != nil || cred != "" {
		t.Errorf("Credential(basic) = %q, %v; want empty, nil", cred, err)
	}
	_, err := s.Credential("m365")
	if !errors.Is(err, tokenstore.ErrNoKey) {
		t.Errorf("Credential(m365) = %v, want ErrNoKey", err)
	}
	if _, err := s.List(); !errors.Is(err, tokenstore.ErrNoKey) {
		t.Errorf("List = %v, want ErrNoKey", err)
	}
	if _, err := os.Lstat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read generated the key file: %v", err)
	}
}

// A store problem (here a key file that others may read) is reported only
// against the transports that have a token file.
func TestTokenStore_ProblemOnlyForTransportsWithToken(t *testing.T) {
	dir := t.TempDir()
	a := config.Agent{DataDir: dir}
	if err := NewTokenStore(a).Put(tokenstore.Entry{Transport: "m365", RefreshToken: "rt-1"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "token.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewTokenStore(a)
	if _, err := s.Credential("m365"); !errors.Is(err, fsafe.ErrUnsafe) {
		t.Errorf("Credential(m365) = %v, want fsafe.ErrUnsafe", err)
	}
	if cred, err := s.Credential("basic"); err != nil || cred != "" {
		t.Errorf("Credential(basic) = %q, %v; want empty, nil", cred, err)
	}
}
