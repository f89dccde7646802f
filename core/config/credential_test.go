package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoad_clientSecretExpires: a transport's client_secret_expires is a
// date or an RFC 3339 time; anything else is an error at the value's
// file:line:col that says the format.
func TestLoad_clientSecretExpires(t *testing.T) {
	tests := []struct {
		name    string
		setting string
		want    string // RFC 3339, "" for unset
		wantErr string
	}{
		{name: "unset", setting: ""},
		{name: "a date is the start of its day in UTC", setting: `client_secret_expires = "2028-06-30"`, want: "2028-06-30T00:00:00Z"},
		{name: "an RFC 3339 time", setting: `client_secret_expires = "2028-06-30T14:05:00+02:00"`, want: "2028-06-30T12:05:00Z"},
		{name: "the portal's local format", setting: `client_secret_expires = "6/30/2028"`, wantErr: `agent.hcl:5,27-38: Invalid client_secret_expires; client_secret_expires is when the client secret expires, as the provider's portal shows it: "6/30/2028" is not a date, YYYY-MM-DD`},
		{name: "not a day", setting: `client_secret_expires = "2028-02-30"`, wantErr: "agent.hcl:5,27-39: Invalid client_secret_expires"},
		{name: "not a string", setting: `client_secret_expires = ["2028-06-30"]`, wantErr: "agent.hcl:5,27"},
		{name: "empty", setting: `client_secret_expires = ""`, wantErr: "agent.hcl:5,27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `
transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
  ` + tt.setting + `
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
`
			path := filepath.Join(t.TempDir(), "agent.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := Load(path)
			if tt.wantErr != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.wantErr) {
					t.Fatalf("diagnostics %v, want %q", diags, tt.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			got := cfg.Transport("relay").ClientSecretExpires
			if tt.want == "" {
				if !got.IsZero() {
					t.Errorf("ClientSecretExpires = %s, want zero", got)
				}
				return
			}
			if got.Format(time.RFC3339) != tt.want {
				t.Errorf("ClientSecretExpires = %s, want %s", got.Format(time.RFC3339), tt.want)
			}
		})
	}
}
