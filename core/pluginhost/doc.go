// Package pluginhost finds, verifies, starts, watches and stops transport
// plugins.
//
// A plugin is an executable named tocsin-plugin-NAME in the plugin
// directory, or at an explicit path. Before it starts, its SHA-256 is
// checked against the pin in the transport block, if there is one (the
// check is done here, to name both hashes, and again by go-plugin's
// SecureConfig as the process starts). It runs as a child process that
// speaks gRPC over AutoMTLS; its stderr goes to the agent's log under the
// plugin's name.
//
// An [Instance] is one running plugin for one transport block. It
// implements sdk.Transport, so the rest of the agent never sees processes:
// when the plugin has died, the next call starts it again, configures it
// with the settings it had, and goes on. A call that fails because the
// process died under it is made once more on the new process; for Send
// this can deliver a message twice, which its stable Message-ID lets a
// reader recognise.
package pluginhost
