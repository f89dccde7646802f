package basic_test

import (
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestConformance runs the SDK's conformance kit against smtp-basic,
// delivering over STARTTLS with a password login to an in-process server
// whose certificate comes from a throw-away CA.
func TestConformance(t *testing.T) {
	const password = "conformance-Pa55word-7d1f93c0"
	sdktest.RunConformance(t, func() sdk.Transport { return basic.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			ca, err := testserver.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			tlsConfig, err := ca.ServerTLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			caFile, err := ca.WriteCertFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			srv := testserver.StartT(t, testserver.Options{
				TLS:   tlsConfig,
				Users: map[string]string{"alerts": password},
			})
			settings := map[string]any{
				"host":     srv.Host(),
				"port":     srv.Port(),
				"security": "starttls",
				"auth":     basic.AuthPlain,
				"username": "alerts",
				"password": password,
				"ca_file":  caFile,
				"timeout":  "10s",
			}
			return settings, func() [][]byte {
				var raw [][]byte
				for _, m := range srv.Messages() {
					raw = append(raw, m.Data)
				}
				return raw
			}
		},
		Secrets: []string{password},
	})
}
