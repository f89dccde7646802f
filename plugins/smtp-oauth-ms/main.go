// Command tocsin-plugin-smtp-oauth-ms is Tocsin's transport for Microsoft
// 365 (Exchange Online) SMTP AUTH with an OAuth 2.0 access token
// (XOAUTH2), as an app (client credentials) or as a signed-in user
// (delegated, after `tocsin oauth login`). See package msoauth for its
// settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// main serves the transport until the agent stops the plugin, then
// closes its SMTP connections with a QUIT.
func main() {
	t := msoauth.New(version)
	err := sdk.Serve(t)
	_ = t.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
