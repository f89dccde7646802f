package tokenstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the time the test clock starts at.
var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newKey returns a random key.
func newKey(t *testing.T) Key {
	t.Helper()
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// newToken returns a random refresh token of a realistic size (Microsoft's
// are opaque strings of a few KB): 4 KB of base64url text.
func newToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3072)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "M.C5" + base64.RawURLEncoding.EncodeToString(b)
}

// openTestStore opens a Store in a new directory with a clock at t0.
func openTestStore(t *testing.T, key Key) (*Store, *clock) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "tokens"), key)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0}
	s.now = c.now
	return s, c
}

// sampleEntry is an entry with every field but RefreshedAt set.
func sampleEntry(t *testing.T, transport string) Entry {
	return Entry{
		Transport:    transport,
		RefreshToken: newToken(t),
		Account:      "alerts@contoso.example",
		Scopes:       []string{"https://outlook.office.com/SMTP.Send", "offline_access"},
		TokenURL:     "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token",
		ObtainedAt:   t0.Add(-time.Hour),
	}
}

// sameEntry compares entries, times by instant.
func sameEntry(a, b Entry) bool {
	return a.Transport == b.Transport && a.RefreshToken == b.RefreshToken && a.Account == b.Account &&
		slices.Equal(a.Scopes, b.Scopes) && a.TokenURL == b.TokenURL &&
		a.ObtainedAt.Equal(b.ObtainedAt) && a.RefreshedAt.Equal(b.RefreshedAt)
}

// mustGet returns the entry of transport, failing the test if there is none.
func mustGet(t *testing.T, s *Store, transport string) Entry {
	t.Helper()
	e, ok, err := s.Get(transport)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = %v, %v", transport, ok, err)
	}
	return e
}

func TestStore_RoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Entry)
		want   func(*Entry) // the expected entry from the stored one
	}{
		{name: "every field"},
		{name: "token only", mutate: func(e *Entry) { e.Account, e.Scopes, e.TokenURL = "", nil, "" }},
		{name: "rotated", mutate: func(e *Entry) { e.RefreshedAt = t0.Add(-time.Minute) }},
		{name: "obtained now", mutate: func(e *Entry) { e.ObtainedAt = time.Time{} }, want: func(e *Entry) { e.ObtainedAt = t0 }},
		{name: "local time zone", mutate: func(e *Entry) { e.ObtainedAt = e.ObtainedAt.In(time.FixedZone("CEST", 2*3600)) }},
		{name: "unicode account", mutate: func(e *Entry) { e.Account = "zoë@exämple.de" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newKey(t)
			s, _ := openTestStore(t, key)
			e := sampleEntry(t, "o365")
			if tt.mutate != nil {
				tt.mutate(&e)
			}
			want := e
			if tt.want != nil {
				tt.want(&want)
			}
			if err := s.Put(e); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, "o365"); !sameEntry(got, want) {
				t.Errorf("Get = %+v\nwant %+v", got.Status(), want.Status())
			}
			// A new Store on the same directory with the same key (an agent
			// restart, or the login command and the agent) reads it too.
			s2, err := Open(s.Dir(), key)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s2, "o365"); !sameEntry(got, want) {
				t.Errorf("Get from a second Store = %+v\nwant %+v", got.Status(), want.Status())
			}
		})
	}
}

func TestStore_Modes(t *testing.T) {
	s, c := openTestStore(t, newKey(t))
	checkMode := func(path string, want os.FileMode) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
	}
	if err := s.Put(sampleEntry(t, "o365")); err != nil {
		t.Fatal(err)
	}
	checkMode(s.Dir(), 0o700)
	path := filepath.Join(s.Dir(), "o365.token")
	checkMode(path, 0o600)
	c.set(t0.Add(time.Hour))
	if err := s.Rotate("o365", newToken(t)); err != nil {
		t.Fatal(err)
	}
	checkMode(path, 0o600)
	des, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 || des[0].Name() != "o365.token" {
		t.Errorf("directory holds %v, want only o365.token", des)
	}
}

func TestStore_FileHoldsNoSecret(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	e := sampleEntry(t, "o365")
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(), "o365.token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := e.RefreshToken
	for _, secret := range []string{
		tok,
		base64.StdEncoding.EncodeToString([]byte(tok)),
		base64.RawURLEncoding.EncodeToString([]byte(tok)),
	} {
		if bytes.Contains(data, []byte(secret)) {
			t.Fatal("the token file holds the refresh token or its base64")
		}
	}
	// Not even 12 bytes of it in a row (base64url text: chance hits are
	// about 1e-14 here).
	for i := 0; i+12 <= len(tok); i++ {
		if bytes.Contains(data, []byte(tok[i:i+12])) {
			t.Fatalf("the token file holds the 12 bytes of the refresh token at %d", i)
		}
	}
	// It is the documented envelope.
	var env struct {
		Version    int    `json:"version"`
		Nonce      string `json:"nonce"`
		Ciphertext string `json:"ciphertext"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("token file is not the envelope: %v", err)
	}
	nonce, err := base64.StdEncoding.DecodeString(env.Nonce)
	if err != nil || len(nonce) != 12 || env.Version != 1 {
		t.Errorf("envelope version %d, nonce of %d bytes (%v), want 1 and 12", env.Version, len(nonce), err)
	}
	ct, err := base64.StdEncoding.DecodeString(env.Ciphertext)
	if err != nil || len(ct) < len(tok) {
		t.Errorf("ciphertext of %d bytes (%v), want at least the token's %d", len(ct), err, len(tok))
	}
}

func TestStore_NonceFreshPerWrite(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	e := sampleEntry(t, "o365")
	path := filepath.Join(s.Dir(), "o365.token")
	nonces := map[string]bool{}
	for range 5 {
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var env envelope
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		nonces[string(env.Nonce)] = true
	}
	if len(nonces) != 5 {
		t.Errorf("5 writes of the same entry used %d nonces, want 5", len(nonces))
	}
}

func TestStore_WrongKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	s, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(t, "o365")
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "o365.token")
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{
			name: "key file",
			opts: []Option{WithKeySource(KeySource{File: "/etc/tocsin/token.key"})},
			want: "decrypt " + path + `: wrong key or corrupted file: the key in key file "/etc/tocsin/token.key" is not the one the token was stored with; run tocsin oauth login again`,
		},
		{
			name: "environment",
			opts: []Option{WithKeySource(KeySource{Env: "TOCSIN_TOKEN_KEY"})},
			want: "decrypt " + path + ": wrong key or corrupted file: the key in environment variable TOCSIN_TOKEN_KEY is not the one the token was stored with; run tocsin oauth login again",
		},
		{
			name: "no source",
			want: "decrypt " + path + ": wrong key or corrupted file: the key is not the one the token was stored with; run tocsin oauth login again",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrongKey := newKey(t)
			other, err := Open(dir, wrongKey, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, ok, err := other.Get("o365")
			if err == nil || ok {
				t.Fatalf("Get with the wrong key = %v, %v; want an error", ok, err)
			}
			if !errors.Is(err, ErrWrongKey) {
				t.Errorf("error %v does not wrap ErrWrongKey", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
			checkNoKey(t, err.Error(), wrongKey)
			if strings.Contains(err.Error(), e.RefreshToken) {
				t.Error("error holds the refresh token")
			}
			// Rotate does not overwrite what it cannot read.
			if err := other.Rotate("o365", "new"); !errors.Is(err, ErrWrongKey) {
				t.Errorf("Rotate with the wrong key = %v, want ErrWrongKey", err)
			}
			if got := mustGet(t, s, "o365"); !sameEntry(got, e) {
				t.Error("the entry changed")
			}
		})
	}
}

func TestStore_RenamedFile(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := s.Put(sampleEntry(t, "alpha")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.Dir(), "alpha.token"), filepath.Join(s.Dir(), "beta.token")); err != nil {
		t.Fatal(err)
	}
	_, ok, err := s.Get("beta")
	if ok || !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Get(beta) of alpha's file = %v, %v; want ErrWrongKey", ok, err)
	}
	if !strings.Contains(err.Error(), filepath.Join(s.Dir(), "beta.token")) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestStore_DamagedFile(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, data []byte) []byte
		wantErr error  // wrapped, or nil
		wantMsg string // substring
	}{
		{
			name: "flipped ciphertext bit",
			damage: func(t *testing.T, data []byte) []byte {
				var env envelope
				if err := json.Unmarshal(data, &env); err != nil {
					t.Fatal(err)
				}
				env.Ciphertext[len(env.Ciphertext)/2] ^= 1
				out, _ := json.Marshal(env)
				return out
			},
			wantErr: ErrWrongKey,
		},
		{
			name:    "truncated",
			damage:  func(_ *testing.T, data []byte) []byte { return data[:len(data)/2] },
			wantMsg: "not a token file",
		},
		{
			name:    "empty",
			damage:  func(*testing.T, []byte) []byte { return nil },
			wantMsg: "not a token file",
		},
		{
			name:    "short nonce",
			damage:  func(*testing.T, []byte) []byte { return []byte(`{"version":1,"nonce":"AAAA","ciphertext":"AAAA"}`) },
			wantMsg: "nonce of 3 bytes, want 12",
		},
		{
			name:    "no ciphertext",
			damage:  func(*testing.T, []byte) []byte { return []byte(`{"version":1,"nonce":"AAAAAAAAAAAAAAAA"}`) },
			wantErr: ErrWrongKey,
		},
		{
			name:    "newer version",
			damage:  func(*testing.T, []byte) []byte { return []byte(`{"version":2,"sealed":"AAAA"}`) },
			wantMsg: "unknown format version 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTestStore(t, newKey(t))
			if err := s.Put(sampleEntry(t, "o365")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), "o365.token")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(t, data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ok, err := s.Get("o365")
			if err == nil || ok {
				t.Fatalf("Get = %v, %v; want an error", ok, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q, want it to name %s and hold %q", err, path, tt.wantMsg)
			}
		})
	}
}

func TestStore_Rotate(t *testing.T) {
	s, c := openTestStore(t, newKey(t))
	e := sampleEntry(t, "o365")
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		c.set(at)
		tok := newToken(t)
		if err := s.Rotate("o365", tok); err != nil {
			t.Fatal(err)
		}
		want := e
		want.RefreshToken = tok
		want.RefreshedAt = at
		if got := mustGet(t, s, "o365"); !sameEntry(got, want) {
			t.Errorf("rotation %d: Get = %+v\nwant %+v", i, got, want)
		}
	}

	if err := s.Rotate("absent", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate(absent) = %v, want ErrNotFound", err)
	} else if !strings.Contains(err.Error(), "tocsin oauth login") {
		t.Errorf("Rotate(absent) = %q, want it to say to log in", err)
	}
	if _, ok, _ := s.Get("absent"); ok {
		t.Error("Rotate(absent) stored an entry")
	}
	if err := s.Rotate("o365", ""); err == nil {
		t.Error("Rotate with an empty token succeeded")
	}
}

func TestStore_CompareAndRotate(t *testing.T) {
	s, c := openTestStore(t, newKey(t))
	e := sampleEntry(t, "o365")
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	// The agent rotates the token it configured the plugin with...
	c.set(t0.Add(time.Hour))
	rotated := newToken(t)
	if ok, err := s.CompareAndRotate("o365", e.RefreshToken, rotated); !ok || err != nil {
		t.Fatalf("CompareAndRotate(current) = %v, %v; want true", ok, err)
	}
	// ...then the operator logs in again, and the agent's plugin, still on
	// the old grant, reports another rotation: the login must survive.
	login := sampleEntry(t, "o365")
	login.Account = "other@contoso.example"
	login.ObtainedAt = t0.Add(2 * time.Hour)
	if err := s.Put(login); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompareAndRotate("o365", rotated, newToken(t)); ok || err != nil {
		t.Fatalf("CompareAndRotate(stale) = %v, %v; want false, nil", ok, err)
	}
	if got := mustGet(t, s, "o365"); !sameEntry(got, login) {
		t.Errorf("a stale rotation changed the entry: %+v", got)
	}
	if _, err := s.CompareAndRotate("absent", "a", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompareAndRotate(absent) = %v, want ErrNotFound", err)
	}
}

func TestStore_List(t *testing.T) {
	s, c := openTestStore(t, newKey(t))
	var tokens []string
	for _, name := range []string{"b", "a-b", "a", "A_1"} {
		e := sampleEntry(t, name)
		e.ObtainedAt = time.Time{}
		tokens = append(tokens, e.RefreshToken)
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	c.set(t0.Add(time.Hour))
	rotated := newToken(t)
	tokens = append(tokens, rotated)
	if err := s.Rotate("a", rotated); err != nil {
		t.Fatal(err)
	}
	// Files that are not token files are ignored.
	for _, name := range []string{"README", ".a.token.123.tmp", "bad name.token", "..token", "c.token.bak"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range got {
		names = append(names, st.Transport)
	}
	if want := []string{"A_1", "a", "a-b", "b"}; !slices.Equal(names, want) {
		t.Errorf("List transports = %q, want %q", names, want)
	}
	a := got[1]
	want := Status{
		Transport:   "a",
		Account:     "alerts@contoso.example",
		Scopes:      []string{"https://outlook.office.com/SMTP.Send", "offline_access"},
		TokenURL:    "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token",
		ObtainedAt:  t0,
		RefreshedAt: t0.Add(time.Hour),
	}
	if a.Transport != want.Transport || a.Account != want.Account || !slices.Equal(a.Scopes, want.Scopes) ||
		a.TokenURL != want.TokenURL || !a.ObtainedAt.Equal(want.ObtainedAt) || !a.RefreshedAt.Equal(want.RefreshedAt) {
		t.Errorf("List()[1] = %+v\nwant %+v", a, want)
	}
	if !got[0].RefreshedAt.IsZero() {
		t.Errorf("List()[0].RefreshedAt = %v, want zero (never rotated)", got[0].RefreshedAt)
	}

	// No rendering of the result holds a token.
	js, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("status", "tokens", got, "first", got[0])
	for _, out := range []string{fmt.Sprintf("%+v", got), fmt.Sprintf("%#v", got), string(js), logged.String()} {
		for _, tok := range tokens {
			if strings.Contains(out, tok) {
				t.Fatalf("List output holds a refresh token: %.200s...", out)
			}
		}
	}
	if !strings.Contains(string(js), `"refreshed_at":"2025-06-01T09:00:00Z"`) {
		t.Errorf("JSON %s lacks refreshed_at", js)
	}
}

func TestStore_ListReportsUnreadable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	s, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"good", "foreign"} {
		if err := s.Put(sampleEntry(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	// "foreign" is re-stored under another key; "junk" is not a token file.
	other, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Put(sampleEntry(t, "foreign")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.token"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if len(got) != 1 || got[0].Transport != "good" {
		t.Errorf("List = %+v, want the status of good only", got)
	}
	if err == nil {
		t.Fatal("List succeeded, want an error naming foreign.token and junk.token")
	}
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("error %v does not wrap ErrWrongKey", err)
	}
	for _, name := range []string{"foreign.token", "junk.token"} {
		if !strings.Contains(err.Error(), filepath.Join(dir, name)) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "good.token") {
		t.Errorf("error %q names good.token", err)
	}
}

func TestStore_GetMissing(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	e, ok, err := s.Get("o365")
	if ok || err != nil || e.Transport != "" {
		t.Errorf("Get(missing) = %+v, %v, %v; want zero, false, nil", e, ok, err)
	}
	if got, err := s.List(); len(got) != 0 || err != nil {
		t.Errorf("List of an empty store = %v, %v", got, err)
	}
}

func TestStore_Delete(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := s.Put(sampleEntry(t, "o365")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("o365"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get("o365"); ok || err != nil {
		t.Errorf("Get after Delete = %v, %v; want false, nil", ok, err)
	}
	if err := s.Delete("o365"); err != nil {
		t.Errorf("Delete of a missing token = %v, want nil", err)
	}
}

func TestStore_Put(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := s.Put(Entry{Transport: "o365"}); err == nil || !strings.Contains(err.Error(), "empty refresh token") {
		t.Errorf("Put without a token = %v, want an error", err)
	}
	if _, ok, _ := s.Get("o365"); ok {
		t.Error("a failed Put stored an entry")
	}
	// Put replaces the whole entry, RefreshedAt included.
	e := sampleEntry(t, "o365")
	e.RefreshedAt = t0
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	login := sampleEntry(t, "o365")
	login.Account = ""
	if err := s.Put(login); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "o365"); !sameEntry(got, login) {
		t.Errorf("Get after a second Put = %+v, want %+v", got, login)
	}
}

func TestStore_InvalidTransport(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	for _, name := range []string{
		"", ".", "..", "../o365", "a/b", "/etc/passwd", `a\b`, "a.b", "a b", "zoë", "a\x00b", "o365\n",
		strings.Repeat("a", maxNameLen+1),
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			calls := map[string]error{
				"Put":    s.Put(Entry{Transport: name, RefreshToken: "tok"}),
				"Rotate": s.Rotate(name, "tok"),
				"Delete": s.Delete(name),
			}
			_, _, calls["Get"] = s.Get(name)
			_, calls["CompareAndRotate"] = s.CompareAndRotate(name, "a", "b")
			for call, err := range calls {
				if !errors.Is(err, ErrInvalidTransport) {
					t.Errorf("%s(%q) = %v, want ErrInvalidTransport", call, name, err)
				}
			}
		})
	}
	des, err := os.ReadDir(s.Dir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(des) != 0 {
		t.Errorf("invalid names left files: %v", des)
	}
	for _, name := range []string{"a", "Z", "0", "o365-delegated", "gmail_api", strings.Repeat("a", maxNameLen)} {
		if err := s.Put(Entry{Transport: name, RefreshToken: "tok"}); err != nil {
			t.Errorf("Put(%q) = %v, want success", name, err)
		}
	}
}

func TestStore_ConcurrentWrites(t *testing.T) {
	key := newKey(t)
	s, _ := openTestStore(t, key)
	// A second Store on the same directory stands in for another process:
	// it shares no mutex with s, only the file system.
	other, err := Open(s.Dir(), key)
	if err != nil {
		t.Fatal(err)
	}
	const writers, writes = 4, 10
	written := make([][]string, writers)
	for w := range written {
		for range writes {
			written[w] = append(written[w], newToken(t))
		}
	}
	if err := s.Put(Entry{Transport: "o365", RefreshToken: "initial"}); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		readErr = make(chan error, 1)
	)
	for w := range writers {
		wg.Go(func() {
			st := s
			if w%2 == 1 {
				st = other
			}
			for i, tok := range written[w] {
				var err error
				if i%2 == 0 {
					err = st.Put(Entry{Transport: "o365", RefreshToken: tok, Account: fmt.Sprint(w)})
				} else {
					err = st.Rotate("o365", tok)
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	// A reader never sees a missing, partial or undecryptable file.
	go func() {
		defer close(readErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, ok, err := other.Get("o365"); err != nil || !ok {
				readErr <- fmt.Errorf("Get during writes = %v, %v", ok, err)
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if err := <-readErr; err != nil {
		t.Error(err)
	}
	got := mustGet(t, s, "o365")
	if !slices.ContainsFunc(written, func(toks []string) bool { return slices.Contains(toks, got.RefreshToken) }) {
		t.Error("the final token is none of those written")
	}
	des, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 {
		t.Errorf("directory holds %d entries after the writes, want 1 (no temporary files left)", len(des))
	}
}

func TestEntry_Redacted(t *testing.T) {
	e := sampleEntry(t, "o365")
	js, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("stored", "entry", e)
	outs := []string{string(js), logged.String(), fmt.Sprint([]Entry{e}), fmt.Sprintf("%v", &e)}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(format, e))
	}
	for _, out := range outs {
		if strings.Contains(out, e.RefreshToken) || strings.Contains(out, fmt.Sprintf("%x", e.RefreshToken)) {
			t.Errorf("output holds the refresh token: %.120s...", out)
		}
	}
	if got := fmt.Sprintf("%+v", e); !strings.Contains(got, "RefreshToken:[redacted]") || !strings.Contains(got, "Account:alerts@contoso.example") {
		t.Errorf("%%+v = %s", got)
	}
	if got := fmt.Sprintf("%+v", Entry{Transport: "x"}); strings.Contains(got, "redacted") {
		t.Errorf("%%+v of an entry without a token = %s, want no [redacted]", got)
	}
}

func TestOpen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, newKey(t)); err == nil {
		t.Error("Open(a file) succeeded")
	}
	if _, err := Open("", newKey(t)); err == nil {
		t.Error(`Open("") succeeded`)
	}
	if _, err := Open(t.TempDir(), newKey(t), WithClock(nil)); err == nil {
		t.Error("Open with a nil clock succeeded")
	}
	s, err := Open(filepath.Join(t.TempDir(), "a", "b"), newKey(t), WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Entry{Transport: "x", RefreshToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "x"); !got.ObtainedAt.Equal(t0) {
		t.Errorf("ObtainedAt = %v, want the WithClock time %v", got.ObtainedAt, t0)
	}
}

func TestOpenKeySource(t *testing.T) {
	root := t.TempDir()
	src := KeySource{File: filepath.Join(root, "token.key")}
	dir := filepath.Join(root, "tokens")
	if _, err := OpenKeySource(dir, src); !errors.Is(err, ErrNoKey) {
		t.Fatalf("OpenKeySource before any login = %v, want ErrNoKey", err)
	}
	login, err := OpenForLogin(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(t, "o365")
	if err := login.Put(e); err != nil {
		t.Fatal(err)
	}
	// The agent, started later, gets the generated key and reads the token.
	agent, err := OpenKeySource(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, agent, "o365"); !sameEntry(got, e) {
		t.Errorf("Get = %+v, want %+v", got, e)
	}
	// A replaced key file is named in the error.
	if err := os.Remove(src.File); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenForLogin(dir, src); err != nil {
		t.Fatal(err)
	}
	agent, err = OpenKeySource(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = agent.Get("o365")
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), `the key in key file "`+src.File+`"`) {
		t.Errorf("Get after the key file was replaced = %v", err)
	}
	if _, err := OpenKeySource(dir, KeySource{Env: "TOCSIN_TEST_UNSET_VARIABLE"}); err == nil {
		t.Error("OpenKeySource with an unset variable succeeded")
	}
}

func TestStore_CompareAndRotateConcurrent(t *testing.T) {
	s, _ := openTestStore(t, newKey(t))
	if err := s.Put(Entry{Transport: "o365", RefreshToken: "initial"}); err != nil {
		t.Fatal(err)
	}
	// Goroutines racing to rotate the same token: exactly one wins, and
	// its token is the one stored.
	const racers = 8
	won := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			ok, err := s.CompareAndRotate("o365", "initial", fmt.Sprint("rotated-", i))
			if err != nil {
				t.Error(err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	winners := 0
	for i, ok := range won {
		if ok {
			winners++
			if got := mustGet(t, s, "o365").RefreshToken; got != fmt.Sprint("rotated-", i) {
				t.Errorf("stored token %q, want the winner's rotated-%d", got, i)
			}
		}
	}
	if winners != 1 {
		t.Errorf("%d CompareAndRotate calls won, want 1", winners)
	}
}
