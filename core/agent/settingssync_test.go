package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/peersync"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// syncedLocal is a backup's configuration that takes its settings from
// peer "primary" and declares no transport.
func syncedLocal(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	return &config.Config{
		Agent: config.Agent{Node: "backup", DataDir: filepath.Join(dir, "data"), PluginDir: filepath.Join(dir, "plugins")},
		Peers: []*config.Check{{Name: "primary", Spec: facts.Spec{Name: "primary", Kind: facts.KindPeer, Peer: &facts.PeerSpec{URL: "https://127.0.0.1:1", SettingsFrom: true}}}},
	}
}

// installPlugin writes an executable plugin file named plugin into cfg's
// plugin_dir and returns its sha256.
func installPlugin(t *testing.T, cfg *config.Config, plugin string) string {
	t.Helper()
	if err := os.MkdirAll(cfg.Agent.PluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := []byte("#!/bin/sh\nexit 1\n# " + plugin + "\n")
	if err := os.WriteFile(filepath.Join(cfg.Agent.PluginDir, pluginhost.Prefix+plugin), body, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// TestWithSynced_Plugins: a synced transport whose plugin the backup
// lacks, or whose binary is not the one the primary pins, is left out,
// and the peer fact's settings_error and /v1/status say why; the others
// are in the configuration the agent runs, in place of its own.
func TestWithSynced_Plugins(t *testing.T) {
	local := syncedLocal(t)
	sum := installPlugin(t, local, "smtp-basic")
	installPlugin(t, local, "graph")
	local.Transports = []*config.Transport{{Name: "relay", Plugin: "own"}}
	s := &peersync.Settings{Node: "primary", Transports: []peersync.Transport{
		{Name: "relay", Plugin: "smtp-basic", SHA256: sum, Settings: json.RawMessage(`{}`)},
		{Name: "m365", Plugin: "smtp-oauth-ms", Settings: json.RawMessage(`{}`)},
		{Name: "graph", Plugin: "graph", SHA256: strings.Repeat("0", 64), Settings: json.RawMessage(`{}`)},
	}, Contacts: []peersync.Contact{{Name: "ops", Email: []string{"ops@example.com"}, Via: []string{"relay", "m365"}}}}
	synced := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := peersync.Save(local.Agent.DataDir, NewTokenStore(local.Agent).KeySource(), "primary", s, synced); err != nil {
		t.Fatal(err)
	}
	a := &Agent{logger: hclog.NewNullLogger(), now: time.Now}
	got := a.withSynced(local)
	var names []string
	for _, tr := range got.Transports {
		names = append(names, tr.Name+":"+tr.Plugin)
	}
	if strings.Join(names, ",") != "relay:smtp-basic" {
		t.Errorf("transports %v, want only the synced relay", names)
	}
	if c := got.Contact("ops"); c == nil || c.Origin != `peer "primary"` {
		t.Errorf("contact ops: %+v", c)
	}
	st := local.Peers[0].Spec.Peer.SettingsSync
	if st == nil {
		t.Fatal("the peer's SettingsSync is not set: the fact cannot read the sync")
	}
	for _, want := range []string{"transport m365: plugin smtp-oauth-ms is missing on this backup", "transport graph: plugin graph at", "is not the binary the peer pins"} {
		if e := st().Error; !strings.Contains(e, want) {
			t.Errorf("settings_error %q, want %q", e, want)
		}
	}
	if !st().SyncedAt.Equal(synced) {
		t.Errorf("settings_synced_at %v, want %v (the saved copy's)", st().SyncedAt, synced)
	}
	status := a.synced.status()
	if status == nil || status.From != "peer primary" || len(status.Transports) != 3 || status.SyncedAt == nil || !strings.Contains(status.Error, "missing") {
		t.Errorf("status %+v", status)
	}
	if hidden := (Status{Settings: status}).forReader().Settings; hidden.Error != "(error hidden from the read role)" {
		t.Errorf("the read role sees the sync error %q", hidden.Error)
	}
}

// TestTakeLogins_Rotation: the backup takes the primary's login when it
// has none or the primary's changed (a login or a rotation there), and
// keeps the token its own plugin rotated otherwise.
func TestTakeLogins_Rotation(t *testing.T) {
	login := func(tok string) *peersync.Settings {
		return &peersync.Settings{Transports: []peersync.Transport{{Name: "m365", Login: &peersync.Login{RefreshToken: tok, Account: "a@example.com"}}}}
	}
	tests := []struct {
		name       string
		stored     string // the backup's token before, "" for none
		prev, got  *peersync.Settings
		wantStored string
	}{
		{"first sync", "", nil, login("primary-1"), "primary-1"},
		{"no login before, one stored", "backup-own", nil, login("primary-1"), "primary-1"},
		{"primary unchanged, backup rotated", "backup-rotated", login("primary-1"), login("primary-1"), "backup-rotated"},
		{"primary rotated", "backup-rotated", login("primary-1"), login("primary-2"), "primary-2"},
		{"restart with a lost store", "", login("primary-1"), login("primary-1"), "primary-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := syncedLocal(t)
			store := NewTokenStore(local.Agent)
			if tt.stored != "" {
				if err := store.Put(tokenstore.Entry{Transport: "m365", RefreshToken: tt.stored}); err != nil {
					t.Fatal(err)
				}
			}
			a := &Agent{logger: hclog.NewNullLogger(), now: time.Now}
			if err := a.takeLogins(local, tt.prev, tt.got); err != nil {
				t.Fatal(err)
			}
			got, err := NewTokenStore(local.Agent).Credential("m365")
			if err != nil || got != tt.wantStored {
				t.Errorf("stored %q (%v), want %q", got, err, tt.wantStored)
			}
		})
	}
}

// TestServePeerSettings: only the peer role over TLS gets the settings,
// secrets and stored login included; the log holds no secret.
func TestServePeerSettings(t *testing.T) {
	const password, refresh = "pw-Ux81qRz-secret", "refresh-Lq02mnB-secret"
	dir := t.TempDir()
	cfg := &config.Config{
		Agent:      config.Agent{Node: "primary", DataDir: dir},
		Transports: []*config.Transport{{Name: "relay", Plugin: "smtp-basic", From: "a@example.com", Settings: sdk.NewSettings([]byte(`{"host":"h","password":"` + password + `"}`))}},
		Contacts:   []*config.Contact{{Name: "ops", Email: []string{"ops@example.com"}, Via: []string{"relay"}}},
	}
	if err := NewTokenStore(cfg.Agent).Put(tokenstore.Entry{Transport: "relay", RefreshToken: refresh}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := &Agent{cfg: cfg, logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace}), now: time.Now}
	tests := []struct {
		name string
		role apiauth.Role // 0: no principal
		tls  bool
		want int
	}{
		{"peer over TLS", apiauth.RolePeer, true, 200},
		{"peer over plain HTTP", apiauth.RolePeer, false, 403},
		{"admin", apiauth.RoleAdmin, true, 403},
		{"read", apiauth.RoleRead, true, 403},
		{"nobody", 0, true, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", peersync.Path, nil)
			if tt.role != 0 {
				r = r.WithContext(apiauth.NewContext(context.Background(), apiauth.Principal{Name: "c", Role: tt.role}))
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			a.servePeerSettings(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			body := w.Body.String()
			if tt.want != 200 {
				if strings.Contains(body, password) || !strings.Contains(body, "peer role") && !strings.Contains(body, "TLS") {
					t.Errorf("refusal %s", body)
				}
				return
			}
			var s peersync.Settings
			if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			if len(s.Transports) != 1 || !strings.Contains(string(s.Transports[0].Settings), password) || s.Transports[0].Login == nil || s.Transports[0].Login.RefreshToken != refresh || len(s.Contacts) != 1 {
				t.Errorf("settings %s", body)
			}
		})
	}
	if strings.Contains(logs.String(), password) || strings.Contains(logs.String(), refresh) || !strings.Contains(logs.String(), "settings served to the peer") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestAgent_SyncSettings runs a backup agent against a stand-in primary
// over TLS: it takes the settings, takes a change, keeps the last good
// copy when the primary refuses it or is gone, also across a restart.
func TestAgent_SyncSettings(t *testing.T) {
	var (
		mu      sync.Mutex
		serving = &peersync.Settings{Node: "primary", Transports: []peersync.Transport{{Name: "relay", Plugin: "smtp-basic", From: "p@example.com", Settings: json.RawMessage(`{"host":"h"}`)}},
			Contacts: []peersync.Contact{{Name: "ops", Email: []string{"ops@example.com"}, Via: []string{"relay"}}}}
		refuse bool
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != peersync.Path || refuse {
			writeJSONError(w, http.StatusForbidden, "only the partner may read the settings")
			return
		}
		_ = json.NewEncoder(w).Encode(serving)
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.hcl")
	text := fmt.Sprintf(`agent {
  node       = "backup"
  data_dir   = "data"
  plugin_dir = "plugins"
  listen     = "127.0.0.1:0"
}
peer "primary" {
  url             = %q
  tls_skip_verify = true
  every           = "1h"
  settings_from   = true
}
`, srv.URL)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func() *config.Config {
		cfg, diags := config.Load(path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	cfg := load()
	installPlugin(t, cfg, "smtp-basic")
	fs, ft := newFakeStarter(), newFakeTimers()
	a, diags := start(context.Background(), &Agent{cfg: cfg, logger: hclog.NewNullLogger(), now: time.Now, starter: fs.start, afterFunc: ft.after})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := context.Background()
	check := func(what, email string) {
		t.Helper()
		cur := a.current()
		if lt := cur.transports["relay"]; lt == nil || lt.config().Origin != `peer "primary"` {
			t.Fatalf("%s: transports %v", what, cur.transports.names())
		}
		if c := cur.cfg.Contact("ops"); c == nil || strings.Join(c.Email, ",") != email {
			t.Fatalf("%s: contact ops %+v", what, c)
		}
	}
	a.SyncSettings(ctx)
	check("first sync", "ops@example.com")

	mu.Lock()
	serving.Contacts[0].Email = []string{"new@example.com"}
	mu.Unlock()
	if d := a.SyncSettings(ctx); d.HasErrors() {
		t.Fatal(d)
	}
	check("a change", "new@example.com")

	mu.Lock()
	refuse = true
	mu.Unlock()
	a.SyncSettings(ctx)
	check("refused", "new@example.com")
	if st := a.synced.state(); !strings.Contains(st.Error, "the partner refuses this agent") || st.SyncedAt.IsZero() {
		t.Errorf("state after a refusal: %+v", st)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	srv.Close()
	a, diags = start(context.Background(), &Agent{cfg: load(), logger: hclog.NewNullLogger(), now: time.Now, starter: fs.start, afterFunc: newFakeTimers().after})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	defer func() { _ = a.Stop(ctx) }()
	check("restart without the primary", "new@example.com")
}

// TestAgent_SyncStartsOnReload: settings_from added by a reload starts
// the sync then, not at the next start.
func TestAgent_SyncStartsOnReload(t *testing.T) {
	serving := &peersync.Settings{Node: "primary", Transports: []peersync.Transport{{Name: "relay", Plugin: "smtp-basic", From: "p@example.com", Settings: json.RawMessage(`{"host":"h"}`)}}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(serving)
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.hcl")
	write := func(peer string) *config.Config {
		t.Helper()
		text := `agent {
  node       = "backup"
  data_dir   = "data"
  plugin_dir = "plugins"
  listen     = "127.0.0.1:0"
}
` + peer
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	cfg := write("")
	installPlugin(t, cfg, "smtp-basic")
	fs := newFakeStarter()
	a, diags := start(context.Background(), &Agent{cfg: cfg, logger: hclog.NewNullLogger(), now: time.Now, starter: fs.start, afterFunc: newFakeTimers().after})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	if a.synced.stop != nil {
		t.Fatal("a sync loop runs without settings_from")
	}
	if d := a.Reload(context.Background(), write(fmt.Sprintf(`peer "primary" {
  url             = %q
  tls_skip_verify = true
  every           = "1h"
  settings_from   = true
}
`, srv.URL))); d.HasErrors() {
		t.Fatal(d)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lt := a.current().transports["relay"]; lt != nil && lt.config().Origin == `peer "primary"` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync after the reload that set settings_from: transports %v", a.current().transports.names())
		}
	}
}

// TestPluginProblem_PeerChoosesNoProgram: a peer chooses which installed
// plugin a synced transport runs, never which program: a path outside
// plugin_dir and local_plugin_dir (even pinned by its own checksum) and a
// name that is not a plugin's are refused; a path inside is taken.
func TestPluginProblem_PeerChoosesNoProgram(t *testing.T) {
	local := syncedLocal(t)
	local.Agent.LocalPluginDir = filepath.Join(t.TempDir(), "local")
	sum := installPlugin(t, local, "smtp-basic")
	inside := filepath.Join(local.Agent.PluginDir, pluginhost.Prefix+"smtp-basic")
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	shSum, err := pluginhost.Checksum(sh)
	if err != nil {
		t.Fatal(err)
	}
	host := NewPluginHost(hclog.NewNullLogger(), local.Agent)
	tests := []struct {
		name      string
		plugin    string
		path, pin string
		wantErr   string // "" for none
	}{
		{name: "installed, by name", plugin: "smtp-basic"},
		{name: "installed, by its path", plugin: "smtp-basic", path: inside, pin: sum},
		{name: "a program elsewhere, pinned", plugin: "smtp-basic", path: sh, pin: shSum, wantErr: "outside this agent's plugin_dir and local_plugin_dir"},
		{name: "out of plugin_dir by dots", plugin: "smtp-basic", path: filepath.Join(local.Agent.PluginDir, "..", "x"), wantErr: "outside"},
		{name: "the directory itself", plugin: "smtp-basic", path: local.Agent.PluginDir, wantErr: "outside"},
		{name: "a relative path", plugin: "smtp-basic", path: "plugins/" + pluginhost.Prefix + "smtp-basic", wantErr: "outside"},
		{name: "a name with a path in it", plugin: "../../bin/sh", wantErr: "not a plugin name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := config.NewSyncedTransport(config.SyncedTransport{Name: "relay", Plugin: tt.plugin, Path: tt.path, SHA256: tt.pin}, `peer "primary"`)
			err := pluginProblem(host, local.Agent, tr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}
