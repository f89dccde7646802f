// Package sdk is the contract between the Tocsin agent and its transport
// plugins, and the kit a third party uses to build one.
//
// A transport plugin is a separate executable named tocsin-plugin-NAME. The
// agent starts it through hashicorp/go-plugin and talks to it over gRPC with
// mutual TLS (AutoMTLS). The plugin implements [Transport]; its main function
// hands it to [Serve]:
//
//	func main() {
//		if err := sdk.Serve(mytransport.New()); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//	}
//
// The agent then calls, in order: Describe (who are you, which settings do
// you take), Configure (here are the validated settings), Check (prove you
// can reach the provider) when an operator asks, and Send as often as there
// is mail. Every method takes a context and returns an error; a failed send
// is a [*DeliveryError] that says whether to retry and what the operator
// must do. [Configured] holds what the last good Configure set up and
// fails Check and Send with [ErrNotConfigured] until there is one.
//
// The message model ([Message]) is built into RFC 5322 bytes by
// wneessen/go-mail ([Message.Build], [Message.WriteTo]); a plugin never
// writes MIME by hand.
//
// The wire contract is proto/transport.proto, protocol version 1; its
// generated code is internal to this module. The agent negotiates it
// through go-plugin's versioned plugin sets, so a version 2 can be added
// later while version 1 plugins keep working. The agent's side of the
// protocol is package host, which a plugin does not need.
//
// This package is the Go module github.com/tocsin-dev/tocsin/plugins/sdk,
// versioned on its own (tags plugins/sdk/vX.Y.Z; CHANGELOG.md), and
// depends on nothing of the agent.
package sdk
