package alertmanager_test

import (
	"net/http"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/alertmanager"
	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient/amtest"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestConformance runs the SDK's conformance kit against the transport
// posting to two fake instances over TLS trusted through ca_file, with
// basic auth. The kit finds each message by its ID, which the alert
// carries as an annotation, in the bodies posted with the right password.
func TestConformance(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return alertmanager.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			ca := amtest.NewCA(t)
			a, b := amtest.NewTLS(t, ca), amtest.NewTLS(t, ca)
			settings := map[string]any{
				"urls":                []string{a.Server.URL, b.Server.URL},
				"basic_auth_username": "tocsin",
				"basic_auth_password": password,
				"ca_file":             ca.File(t),
				"timeout":             "10s",
			}
			return settings, func() [][]byte {
				var raw [][]byte
				for _, r := range append(a.Got(), b.Got()...) {
					if _, p, ok := (&http.Request{Header: r.Header}).BasicAuth(); ok && p == password && r.Method == http.MethodPost {
						raw = append(raw, r.Body)
					}
				}
				return raw
			}
		},
		Secrets: []string{password},
	})
}
