// Command tocsin-plugin-gmail is Tocsin's transport for the Gmail API
// (users.messages.send), with a service account and domain-wide delegation
// or an OAuth client and a refresh token from `tocsin oauth login`. See
// package gmail for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := sdk.Serve(gmail.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
