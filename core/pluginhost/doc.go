// Package pluginhost finds, verifies, starts, watches and stops transport
// plugins.
//
// A plugin is an executable named tocsin-plugin-NAME in the plugin
// directory, or at an explicit path. The host opens that file once,
// checks the open file's SHA-256 against the pin in the transport block,
// if there is one, and executes that same open file (as /proc/self/fd/3
// in the new process), so a symlink or file swapped in between is never
// run; see [pinned] for what a pin covers for a binary and for a script.
// The plugin runs as a child process that speaks gRPC over AutoMTLS; its
// stderr goes to the agent's log under the plugin's name.
//
// Each plugin leads a process group of its own. Stopping a plugin (Kill,
// Stop, Host.Close, Host.Shutdown) asks it to exit, kills its whole group
// (so nothing it started outlives it), and takes a bounded time even when
// a process outside the group holds the plugin's output open. A plugin
// that exits by itself takes its group with it too.
//
// The gRPC messages between agent and plugin are bounded on both sides
// (sdk.MaxRequestBytes, sdk.MaxResponseBytes); texts that come back from a
// plugin are cut at sdk.MaxTextBytes.
//
// An [Instance] is one running plugin for one transport block. It
// implements sdk.Transport, so the rest of the agent never sees processes:
// when the plugin has died, the next call starts it again, configures it
// with the settings it had, and goes on. A call that fails because the
// process died under it is made once more on the new process; for Send
// this can deliver a message twice, which its stable Message-ID lets a
// reader recognise.
package pluginhost
