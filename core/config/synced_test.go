package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// writeSyncConfig writes text as agent.hcl in a new directory and loads it.
func writeSyncConfig(t *testing.T, text string) (*Config, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadWith(p, nil)
}

// TestSettingsPeer_Settings reads settings_from on a peer and
// take_settings_from_primary on the library, and shows that a backup that
// takes its settings from a peer may name transports and contacts it
// does not declare (warnings), while one that does not may not (errors).
func TestSettingsPeer_Settings(t *testing.T) {
	const rules = `
rule "r" {
  schedule = "@every 1m"
  when     = true
  notify   = ["ops"]
  subject  = "s"
}
contact "mine" {
  email = ["a@example.com"]
  via   = ["relay"]
}
`
	tests := []struct {
		name     string
		text     string
		peer     string // the settings peer, "" for none
		warnings int    // the unknown contact and transport
	}{
		{"peer option", `peer "primary" {
  url = "https://127.0.0.1:9870"
  fingerprint = "sha256:` + strings.Repeat("ab", 32) + `"
  settings_from = true
}` + rules, "primary", 2},
		{"peer without it", `peer "primary" {
  url = "https://127.0.0.1:9870"
}` + rules, "", 0},
		{"peer option false", `peer "primary" {
  url = "https://127.0.0.1:9870"
  settings_from = false
}` + rules, "", 0},
		{"library", `library "failover" {
  role     = "backup"
  peer_url = "https://127.0.0.1:9870"
  peer_fingerprint = "sha256:` + strings.Repeat("ab", 32) + `"
  notify   = ["ops"]
  take_settings_from_primary = true
}` + rules, "partner", 2},
		{"library on the primary", `library "failover" {
  role     = "primary"
  peer_url = "https://127.0.0.1:9870"
  notify   = ["ops"]
  take_settings_from_primary = true
}` + rules, "partner", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := writeSyncConfig(t, tt.text)
			got := cfg.SettingsPeer()
			if (got == nil) != (tt.peer == "") || (got != nil && got.Name != tt.peer) {
				t.Fatalf("SettingsPeer = %v, want %q", got, tt.peer)
			}
			var unknown []*hcl.Diagnostic
			for _, d := range diags {
				if strings.Contains(d.Summary, "unknown") || strings.Contains(d.Summary, "from the backup") {
					unknown = append(unknown, d)
				}
			}
			if tt.peer == "" {
				if !diags.HasErrors() || len(unknown) == 0 {
					t.Fatalf("unknown names are not errors without a settings peer: %v", diags)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("errors: %v", diags)
			}
			primaryWarned := false
			for _, d := range diags {
				primaryWarned = primaryWarned || d.Summary == "The primary takes its settings from the backup"
			}
			if primaryWarned != strings.Contains(tt.name, "primary") {
				t.Errorf("warned about the primary taking settings: %v; diagnostics %v", primaryWarned, diags)
			}
			if len(unknown) < tt.warnings {
				t.Fatalf("warnings %v, want %d about unknown names", diags, tt.warnings)
			}
			for _, d := range unknown {
				if d.Severity != hcl.DiagWarning || !strings.Contains(d.Detail, `peer "`+tt.peer+`"`) && !strings.Contains(d.Detail, "backup's library block") {
					t.Errorf("diagnostic %v, want a warning naming the peer", d)
				}
			}
		})
	}
}

func TestConfig_WithSynced(t *testing.T) {
	local := &Config{
		Transports: []*Transport{{Name: "relay"}, {Name: "own"}},
		Contacts:   []*Contact{{Name: "ops"}, {Name: "mine"}},
	}
	ts := []*Transport{NewSyncedTransport(SyncedTransport{Name: "relay", Plugin: "smtp-basic", Settings: []byte(`{}`)}, `peer "primary"`),
		NewSyncedTransport(SyncedTransport{Name: "graph", Plugin: "ms-graph", Settings: []byte(`{}`)}, `peer "primary"`)}
	cs := []*Contact{{Name: "ops", Origin: `peer "primary"`}}
	got, replaced := local.WithSynced(ts, cs)
	var names []string
	for _, t := range got.Transports {
		names = append(names, t.Name+"<"+t.Origin+">")
	}
	if want := []string{"own<>", `relay<peer "primary">`, `graph<peer "primary">`}; !slices.Equal(names, want) {
		t.Errorf("transports %q, want %q", names, want)
	}
	if got.Contact("ops").Origin == "" || got.Contact("mine") == nil {
		t.Errorf("contacts %v", got.Contacts)
	}
	if want := []string{"contact ops", "transport relay"}; !slices.Equal(replaced, want) {
		t.Errorf("replaced %q, want %q", replaced, want)
	}
	if len(local.Transports) != 2 || local.Transports[0].Origin != "" {
		t.Errorf("the local configuration changed: %v", local.Transports)
	}
}

func TestTransport_DecodePreset(t *testing.T) {
	tests := []struct {
		name, settings string
		want           string // "" for success, else part of the error
	}{
		{"ok", `{"host":"mail.example.com","port":25,"password":"s3cret-pw","timeout":"10s"}`, ""},
		{"unknown setting", `{"host":"h","tls_mode":"x"}`, "no setting tls_mode"},
		{"missing required", `{"port":25}`, "needs host"},
		{"wrong type", `{"host":"h","port":"x"}`, "port is not"},
		{"not in one_of", `{"host":"h","security":"ssl"}`, "security"},
		{"not an object", `[1]`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewSyncedTransport(SyncedTransport{Name: "relay", Plugin: "smtp-basic", Settings: []byte(tt.settings)}, `peer "primary"`)
			diags := tr.DecodeSettings(fakeSchema)
			if tt.want == "" {
				if diags.HasErrors() {
					t.Fatalf("errors: %v", diags)
				}
				if !strings.Contains(string(tr.Settings.JSON()), `"host":"mail.example.com"`) {
					t.Errorf("settings %s", tr.Settings.JSON())
				}
				if got := tr.Scrub("the password is s3cret-pw"); strings.Contains(got, "s3cret-pw") {
					t.Errorf("Scrub kept the synced secret: %q", got)
				}
				return
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Fatalf("diagnostics %v, want an error with %q", diags, tt.want)
			}
		})
	}
}

// TestTransport_SyncedRoundTrip: what a primary serves of a transport
// (Synced) is what the backup makes of it (NewSyncedTransport), every
// field, so that a setting added to one side and not the other shows.
func TestTransport_SyncedRoundTrip(t *testing.T) {
	want := SyncedTransport{
		Name: "relay", Plugin: "smtp-basic", From: "a@example.com", Path: "/opt/p", SHA256: strings.Repeat("ab", 32),
		RateLimit: Rate{Messages: 30, Per: time.Minute}, SendTimeout: time.Minute,
		Settings: []byte(`{"host":"mail.example.com","port":25}`), TestTo: []string{"test@example.com"},
		ClientSecretExpires: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC),
	}
	tr := NewSyncedTransport(want, `peer "primary"`)
	if diags := tr.DecodeSettings(fakeSchema); diags.HasErrors() {
		t.Fatal(diags)
	}
	got := tr.Synced()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Synced() = %+v\nwant      %+v", got, want)
	}
	if tr.Origin != `peer "primary"` {
		t.Errorf("Origin = %q", tr.Origin)
	}
}
