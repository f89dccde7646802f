package pluginhost_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestHost_RefusesUnknownProtocol: a plugin built for a protocol this agent
// does not speak is refused at the handshake, with both versions named.
func TestHost_RefusesUnknownProtocol(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{
		"future": "github.com/tocsin-dev/tocsin/core/pluginhost/testdata/futureplugin",
	})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	in := h.Instance(pluginhost.Spec{Name: "f", Plugin: "future"})
	_, err := in.Describe(ctx(t))
	if err == nil {
		t.Fatal("a protocol 99 plugin was accepted")
	}
	for _, want := range []string{"99", "1", "protocol"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
