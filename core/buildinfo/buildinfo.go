// Package buildinfo holds what the build stamped into the binary.
package buildinfo

import "runtime"

// Version is the agent's version, set with
// -ldflags "-X github.com/tocsin-dev/tocsin/core/buildinfo.Version=...".
var Version = "dev"

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }
