package gmail_test

import (
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestConformance runs the SDK's conformance kit against gmail with a
// service account delegated for the kit's sender, against the Google OAuth
// and Gmail API stand-ins over TLS from a throw-away CA. (The kit passes no
// Config.Credential, so client_file mode cannot run it.)
func TestConformance(t *testing.T) {
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, privateKey := g.serviceAccount(t, []string{gmail.ScopeSend}, sdktest.DefaultConformanceFrom)
	sdktest.RunConformance(t, func() sdk.Transport { return gmail.New("test") }, sdktest.Conformance{
		Target: func(*testing.T) (map[string]any, func() [][]byte) {
			return g.saSettings(keyFile, sdktest.DefaultConformanceFrom), func() [][]byte {
				var raw [][]byte
				for _, m := range g.gmail.Messages() {
					raw = append(raw, m.Raw)
				}
				return raw
			}
		},
		Secrets: []string{keyBody(privateKey), "PRIVATE KEY-----"},
	})
}
