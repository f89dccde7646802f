// Command tocsin-plugin-graph is Tocsin's transport for Microsoft 365
// through Microsoft Graph's sendMail, with an app registration's client
// credentials. See package graph for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := sdk.Serve(graph.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
