package sdktest

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/host"
)

// Plugin is a transport plugin process started by [StartPlugin], seen
// through the SDK's gRPC client: each call is an RPC to the process, as
// when the agent makes it.
type Plugin struct {
	sdk.Transport
	sdk.Authorizer

	client *plugin.Client
}

// Kill stops the plugin process and returns once everything it wrote to
// stderr is in its log. StartPlugin stops it when the test ends; call
// Kill first to read the whole log.
func (p *Plugin) Kill() { p.client.Kill() }

// StartPlugin builds the main package pkg (an import path) as
// tocsin-plugin-NAME and starts it the way the agent starts a plugin: a
// child process, go-plugin's handshake, gRPC with AutoMTLS, the SDK's
// plugin set and message size limits. What the plugin logs goes to the
// returned Logs. The process is stopped when the test ends.
//
// It does not restart a plugin that died, nor replay its configuration:
// that is the agent's plugin host, tested on its own.
func StartPlugin(t testing.TB, name, pkg string) (*Plugin, *Logs) {
	t.Helper()
	path := Build(t, pkg, "tocsin-plugin-"+name)
	logs := &Logs{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: host.ClientPlugins(),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin." + name, Level: hclog.Trace, Output: logs}),
		GRPCDialOptions:  host.DialOptions(),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin %s: %v", name, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("start plugin %s: %v", name, err)
	}
	tr, ok := raw.(sdk.Transport)
	if !ok {
		t.Fatalf("start plugin %s: it serves %T, not a transport", name, raw)
	}
	// The SDK's client is an Authorizer whatever the plugin is: a plugin
	// without a login answers LoginConfig with sdk.ErrNoLogin.
	auth, ok := raw.(sdk.Authorizer)
	if !ok {
		t.Fatalf("start plugin %s: its client %T has no LoginConfig", name, raw)
	}
	return &Plugin{Transport: tr, Authorizer: auth, client: client}, logs
}

// Logs is a log sink that is safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
