package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestTransport_SendScrubsWholeBatchErrors: a whole-batch error (one that
// is not a delivery error, one that is, one wrapped around one) loses the
// transport's secrets and keeps its kind and remedy; an error without a
// secret comes back as the plugin gave it, so that errors.Is still works.
func TestTransport_SendScrubsWholeBatchErrors(t *testing.T) {
	const secret, login = "PLANTED-setting", "PLANTED-login"
	t.Setenv("SCRUB_PASSWORD", secret)
	path := t.TempDir() + "/agent.hcl"
	src := `agent {
  node     = "n"
  data_dir = "data"
}
transport "t" {
  plugin = "smtp-basic"
  from   = "a@example.com"
  config {
    password = env("SCRUB_PASSWORD")
  }
}
contact "ops" {
  email = ["a@example.com"]
  via   = [transport.t]
}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	tc := cfg.Transport("t")
	if diags := tc.DecodeSettings(sdk.Schema{{Name: "password", Type: sdk.TypeString, Sensitive: true}}); diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	clean := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		// same: the error comes back as it is; else want is its text.
		same      bool
		want      string
		temporary bool
		remedy    string
	}{
		{name: "no secret", err: clean, same: true, temporary: true},
		{
			name: "plain error", err: fmt.Errorf("dial with %s: refused", secret),
			want: "temporary error: dial with (sensitive): refused", temporary: true,
		},
		{
			name: "delivery error", err: sdk.PermanentError(errors.New("bad "+login), "535", "Replace "+secret+"."),
			want: "permanent error 535: bad (sensitive)", remedy: "Replace (sensitive).",
		},
		{
			// The wrapping text goes with the secret; the plugin's
			// delivery error stays.
			name: "wrapped", err: fmt.Errorf("send as %s: %w", secret, sdk.PermanentError(clean, "535", "Log in.")),
			want: "permanent error 535: connection refused", remedy: "Log in.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := &atomic.Pointer[string]{}
			l := login
			cred.Store(&l)
			tr := &Transport{Config: tc, Plugin: failsBatch(tt.err), credential: cred}
			_, err := tr.Send(context.Background(), []*sdk.Message{{ID: "m"}})
			if tt.same && err != tt.err {
				t.Errorf("err = %#v, want the plugin's error itself", err)
			}
			if !tt.same && (err == nil || err.Error() != tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if de := sdk.AsDeliveryError(err); de.Temporary() != tt.temporary || de.Remedy != tt.remedy {
				t.Errorf("err = %#v, want temporary %v and remedy %q", de, tt.temporary, tt.remedy)
			}
		})
	}
	// A transport without settings or login (a fake's) scrubs nothing.
	tr := &Transport{Plugin: failsBatch(clean)}
	if _, err := tr.Send(context.Background(), nil); err != clean {
		t.Errorf("err = %v", err)
	}
}
