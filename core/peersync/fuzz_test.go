package peersync

import (
	"encoding/json"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// FuzzSettings: whatever a peer answers, the backup decodes it, builds
// its transports and contacts, and checks each transport's settings
// against a plugin's schema without a panic; a transport whose settings
// pass gives them back as a JSON object.
func FuzzSettings(f *testing.F) {
	f.Add([]byte(`{"node":"primary","transports":[{"name":"relay","plugin":"smtp-basic","from":"a@example.com","settings":{"host":"h","port":25},"test_to":["t@example.com"]}],"contacts":[{"name":"ops","email":["o@example.com"],"via":["relay"]}]}`))
	f.Add([]byte(`{"transports":[{"name":"x","settings":[1,2]}]}`))
	f.Add([]byte(`{"transports":[{"name":"x","settings":{"host":{"a":1}}}]}`))
	f.Add([]byte(`{"transports":[{"settings":null,"login":{"refresh_token":"r"}}]}`))
	schema := sdk.Schema{
		{Name: "host", Type: sdk.TypeString, Required: true},
		{Name: "port", Type: sdk.TypeNumber},
		{Name: "timeout", Type: sdk.TypeDuration},
		{Name: "cc", Type: sdk.TypeListOfString},
		{Name: "tls", Type: sdk.TypeBool},
		{Name: "password", Type: sdk.TypeString, Sensitive: true},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Settings
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		_ = s.summary()
		ts, cs := s.Config(`peer "primary"`)
		for _, c := range cs {
			if c.Origin != `peer "primary"` {
				t.Fatalf("contact %q without its origin", c.Name)
			}
		}
		for _, tr := range ts {
			if diags := tr.DecodeSettings(schema); diags.HasErrors() {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal(tr.Settings.JSON(), &obj); err != nil {
				t.Fatalf("decoded settings are not a JSON object: %v: %s", err, tr.Settings.JSON())
			}
			_ = tr.Synced()
		}
	})
}
