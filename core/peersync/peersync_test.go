package peersync

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
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

// TestServeConfig_RoundTrip: a transport the primary serves (Serve),
// through JSON, is the transport the backup builds (Config), field for
// field, its login and origin too; a transport taken from a peer is not
// served again.
func TestServeConfig_RoundTrip(t *testing.T) {
	schema := sdk.Schema{{Name: "host", Type: sdk.TypeString, Required: true}, {Name: "password", Type: sdk.TypeString, Sensitive: true}}
	want := config.SyncedTransport{
		Name: "relay", Plugin: "smtp-basic", From: "a@example.com", Path: "/opt/p", SHA256: strings.Repeat("ab", 32),
		RateLimit: config.Rate{Messages: 30, Per: time.Minute}, SendTimeout: 2 * time.Minute,
		Settings: []byte(`{"host":"mail.example.com","password":"pw"}`), TestTo: []string{"test@example.com"},
		ClientSecretExpires: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC),
	}
	own := config.NewSyncedTransport(want, "")
	taken := config.NewSyncedTransport(config.SyncedTransport{Name: "other", Plugin: "smtp-basic", Settings: []byte(`{"host":"h"}`)}, `peer "x"`)
	for _, tr := range []*config.Transport{own, taken} {
		if diags := tr.DecodeSettings(schema); diags.HasErrors() {
			t.Fatal(diags)
		}
	}
	cfg := &config.Config{Agent: config.Agent{Node: "primary"}, Transports: []*config.Transport{own, taken},
		Contacts: []*config.Contact{{Name: "ops", Email: []string{"ops@example.com"}, Via: []string{"relay"}}}}
	login := &tokenstore.Entry{Transport: "relay", RefreshToken: "rt", Account: "a@example.com"}
	served := Serve(cfg, time.Now(), func(string) (*tokenstore.Entry, error) { return login, nil })
	b, err := json.Marshal(served)
	if err != nil {
		t.Fatal(err)
	}
	var got Settings
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	ts, cs := got.Config(`peer "primary"`)
	if len(ts) != 1 || len(cs) != 1 {
		t.Fatalf("%d transports, %d contacts, want the primary's own 1 and 1", len(ts), len(cs))
	}
	if diags := ts[0].DecodeSettings(schema); diags.HasErrors() {
		t.Fatal(diags)
	}
	if s := ts[0].Synced(); !reflect.DeepEqual(s, want) {
		t.Errorf("the backup's transport:\n%+v\nwant\n%+v", s, want)
	}
	if ts[0].Origin != `peer "primary"` || cs[0].Origin != `peer "primary"` || cs[0].Email[0] != "ops@example.com" {
		t.Errorf("origin %q/%q, contact %+v", ts[0].Origin, cs[0].Origin, cs[0])
	}
	if l := got.Transports[0].Login; l == nil || l.RefreshToken != "rt" || l.Account != "a@example.com" {
		t.Errorf("login %+v", l)
	}
}
