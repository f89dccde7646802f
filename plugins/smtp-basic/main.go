// Command tocsin-plugin-smtp-basic is Tocsin's transport for any SMTP
// server that takes a username and password, or no login at all: a relay,
// Postfix, a Gmail app password. See package basic for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// main serves the transport until the agent stops the plugin, then
// closes its SMTP connections with a QUIT.
func main() {
	t := basic.New(version)
	err := sdk.Serve(t)
	_ = t.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
