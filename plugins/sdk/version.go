package sdk

import plugin "github.com/hashicorp/go-plugin"

// SDKVersion is the version of this SDK. A plugin reports it in Describe so
// operators can tell which SDK a third-party plugin was built with.
const SDKVersion = "0.2.0"

// ProtocolVersion is the newest plugin protocol this SDK speaks.
const ProtocolVersion = 1

// PluginName is the key of the transport plugin in go-plugin's plugin set.
const PluginName = "transport"

// Handshake is the go-plugin handshake shared by the agent and its plugins.
// The magic cookie is a UX feature, not a security one: it makes a plugin
// binary run by hand print a helpful message instead of hanging.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "TOCSIN_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "5c1e0b7a-tocsin-transport",
}
