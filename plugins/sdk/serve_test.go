package sdk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestServe_ByHand: a plugin run by hand does not hang waiting for an
// agent; Serve returns an error that says what the binary is, and the
// "describe" argument prints the description with the SDK's versions.
func TestServe_ByHand(t *testing.T) {
	t.Setenv(sdk.Handshake.MagicCookieKey, "")
	tests := []struct {
		name    string
		args    []string
		t       sdk.Transport
		wantErr error
		wantOut bool
	}{
		{name: "no agent", args: nil, t: &fakeTransport{}, wantErr: sdk.ErrNotStartedByAgent},
		{name: "other arguments", args: []string{"describe", "x"}, t: &fakeTransport{}, wantErr: sdk.ErrNotStartedByAgent},
		{name: "describe", args: []string{"describe"}, t: &fakeTransport{}, wantOut: true},
		{name: "no transport", args: []string{"describe"}, t: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := sdk.Serve(tt.t, sdk.WithArgs(tt.args...), sdk.WithStdout(&out))
			switch {
			case tt.t == nil:
				if err == nil {
					t.Fatal("Serve(nil) = nil; want an error")
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Serve = %v; want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Serve = %v", err)
			}
			if !tt.wantOut {
				if out.Len() != 0 {
					t.Errorf("printed %q; want nothing", out.String())
				}
				return
			}
			var d sdk.Description
			if err := json.Unmarshal(out.Bytes(), &d); err != nil {
				t.Fatalf("describe printed %q: %v", out.String(), err)
			}
			if d.Name != "fake" || d.SDKVersion != sdk.SDKVersion || d.ProtocolVersion != sdk.ProtocolVersion || d.MaxMessageBytes != sdk.MaxRequestBytes {
				t.Errorf("describe = %+v; want fake with the SDK's versions and limit", d)
			}
		})
	}
}
