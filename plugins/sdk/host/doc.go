// Package host is the agent's side of the transport plugin protocol: what
// a program that starts and calls transport plugins needs, as the Tocsin
// agent's plugin host does. A plugin author does not need it; plugins are
// built with package sdk alone.
//
// A host starts a plugin with hashicorp/go-plugin:
//
//	client := plugin.NewClient(&plugin.ClientConfig{
//		HandshakeConfig:  sdk.Handshake,
//		VersionedPlugins: host.ClientPlugins(),
//		Cmd:              exec.Command(path),
//		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
//		AutoMTLS:         true,
//		GRPCDialOptions:  host.DialOptions(),
//	})
//
// and dispenses [sdk.PluginName]: the value implements [sdk.Transport],
// [sdk.Authorizer] and [sdk.CredentialReporter], each method one RPC to
// the plugin process. A batch larger than the plugin accepts is split
// into calls that fit; a failed call becomes a [sdk.DeliveryError].
package host
