// Package hostside hands the agent's side of the protocol from package sdk,
// where it lives next to the plugin's side because both share the
// conversions between the Go model and the wire, to package host, without
// making it part of what a plugin author sees in package sdk.
package hostside

import "google.golang.org/grpc"

// NewClient returns the transport client that makes each call an RPC over
// conn: a value implementing sdk.Transport, sdk.Authorizer and
// sdk.CredentialReporter. Package sdk sets it when it is initialized,
// which happens before any package importing sdk (as host does) runs.
var NewClient func(conn *grpc.ClientConn) any
