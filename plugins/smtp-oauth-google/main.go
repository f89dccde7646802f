// Command tocsin-plugin-smtp-oauth-google is Tocsin's transport for Gmail
// and Google Workspace SMTP with an OAuth 2.0 access token (XOAUTH2), from
// a service account with domain-wide delegation or from a user's login
// (`tocsin oauth login`). See package googleoauth for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// main serves the transport until the agent stops the plugin, then
// closes its SMTP connections with a QUIT.
func main() {
	t := googleoauth.New(version)
	err := sdk.Serve(t)
	_ = t.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
