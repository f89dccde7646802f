// Package sdktest helps test transport plugins.
//
//   - RunConformance runs the checks every transport must pass (describe,
//     configure, batches, invalid messages, cancellation, concurrency, and
//     a grep for planted secrets in everything the plugin logged or
//     returned) over a real in-process gRPC connection, the way the agent
//     talks to it. Run is the same kit outside `go test`, reporting each
//     check; `tocsin plugin check` runs it against a plugin executable.
//   - Build and PluginDir compile plugin binaries for tests that start real
//     plugin processes; StartPlugin builds one and starts it the way the
//     agent does (a child process, go-plugin's handshake, gRPC with
//     AutoMTLS), without importing the agent.
//   - NoSecrets fails a test when a secret shows up in a text.
//
// Its tests also hold the line between the agent and its plugins: no
// non-test Go file under plugins/ imports the agent's core/ packages.
//
// Stand-in servers for the providers a transport talks to are in the
// sibling package testserver.
package sdktest
