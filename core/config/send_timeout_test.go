package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad_sendTimeout(t *testing.T) {
	tests := []struct {
		name    string
		setting string
		want    time.Duration
		wantErr string
	}{
		{name: "unset is the default", setting: "", want: 0},
		{name: "set", setting: `send_timeout = "45s"`, want: 45 * time.Second},
		{name: "not a duration", setting: `send_timeout = "soon"`, wantErr: "Invalid duration"},
		{name: "not positive", setting: `send_timeout = "0s"`, wantErr: "Invalid duration"},
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
			if got := cfg.Transport("relay").SendTimeout; got != tt.want {
				t.Errorf("SendTimeout = %v, want %v", got, tt.want)
			}
		})
	}
}
