// Command tocsin-plugin-alertmanager is Tocsin's transport for a
// Prometheus Alertmanager cluster: each notification becomes an alert
// posted to every instance. See package alertmanager for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/alertmanager"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := sdk.Serve(alertmanager.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
