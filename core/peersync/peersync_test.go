package peersync

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/tokenstore"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	src := tokenstore.KeySource{File: filepath.Join(dir, "token.key")}
	if s, _, err := Load(dir, src, "primary"); s != nil || err != nil {
		t.Fatalf("nothing saved: %v, %v", s, err)
	}
	s := &Settings{Node: "primary", Transports: []Transport{{Name: "relay", Plugin: "smtp-basic", Settings: json.RawMessage(`{"password":"pw-Hx71-secret"}`),
		Login: &Login{RefreshToken: "rt-Pq55-secret"}}}}
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	if err := Save(dir, src, "primary", s, at); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "peer-primary.settings"))
	if err != nil || strings.Contains(string(raw), "secret") {
		t.Fatalf("the file holds a secret in clear (or cannot be read: %v)", err)
	}
	got, fetched, err := Load(dir, src, "primary")
	if err != nil || !fetched.Equal(at) || got.Transports[0].Login.RefreshToken != "rt-Pq55-secret" {
		t.Fatalf("Load = %v, %v, %v", got, fetched, err)
	}
	// Another peer's name does not decrypt it.
	if err := os.Rename(filepath.Join(dir, "peer-primary.settings"), filepath.Join(dir, "peer-other.settings")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, src, "other"); !errors.Is(err, tokenstore.ErrWrongKey) {
		t.Errorf("renamed copy: %v, want ErrWrongKey", err)
	}
	// A lost key is an error, not "never synced".
	if err := os.Remove(src.File); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, src, "other"); err == nil {
		t.Error("a missing key reads as no copy")
	}
}

func TestSettings_PrintsNoSecret(t *testing.T) {
	s := Settings{Node: "primary", Transports: []Transport{{Name: "relay", Settings: json.RawMessage(`{"password":"pw-Hx71-secret"}`), Login: &Login{RefreshToken: "rt-Pq55-secret"}}}}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), s.LogValue().String(),
		fmt.Sprint(s.Transports[0]), fmt.Sprintf("%+v", *s.Transports[0].Login) + "relay"} {
		if strings.Contains(out, "secret") || !strings.Contains(out, "relay") {
			t.Errorf("printed %q", out)
		}
	}
}
