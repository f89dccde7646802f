package host

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/internal/hostside"
)

// Plugin is go-plugin's glue on the host's side: it turns the plugin's
// gRPC connection into an [sdk.Transport]. It serves nothing; a plugin
// serves with [sdk.Serve] or [sdk.Plugin].
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
}

var _ plugin.GRPCPlugin = Plugin{}

// GRPCServer refuses: a plugin serves with sdk.Serve or sdk.Plugin.
func (Plugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host.Plugin is the agent's side of the protocol; a plugin serves its transport with sdk.Serve or sdk.Plugin")
}

// GRPCClient returns the transport that calls the plugin over conn. It
// implements sdk.Transport, sdk.Authorizer and sdk.CredentialReporter.
func (Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return hostside.NewClient(conn), nil
}

// ClientPlugins returns the plugin sets the host offers, by protocol
// version, for go-plugin's ClientConfig.VersionedPlugins. A plugin built
// with an SDK that speaks another version is refused at the handshake with
// a message naming both.
func ClientPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		sdk.ProtocolVersion: {sdk.PluginName: Plugin{}},
	}
}

// DialOptions are the host's gRPC options for a plugin connection: it
// sends at most sdk.MaxRequestBytes and accepts at most
// sdk.MaxResponseBytes. They replace go-plugin's defaults, which accept
// answers of up to 2 GiB.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallSendMsgSize(sdk.MaxRequestBytes),
		grpc.MaxCallRecvMsgSize(sdk.MaxResponseBytes),
	)}
}
