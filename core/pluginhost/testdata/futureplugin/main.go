// Command futureplugin is a transport plugin that speaks only a future
// protocol version, to test that the agent refuses it clearly.
package main

import (
	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

func main() {
	hs := sdk.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{99: {sdk.PluginName: sdk.Plugin(basic.New("future"))}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
