package sdk_test

import (
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestLooksSensitive(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true},
		{"client_secret", true},
		{"api_token", true},
		{"client_key", true},
		{"Private_Key", true},
		{"host", false},
		{"client_id", false},
		{"token_grace", false},
		{"token_url", false},
		{"key_file", false},
		{"token_key_env", false},
		{"service_account_file", false},
		{"secret_path", false},
		{"client_secret_expires", false},
		{"secret_expires_soon", true},
	}
	for _, tt := range tests {
		if got := sdk.LooksSensitive(tt.name); got != tt.want {
			t.Errorf("LooksSensitive(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
