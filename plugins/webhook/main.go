// Command tocsin-plugin-webhook is Tocsin's transport for chat and other
// HTTP webhooks: Microsoft Teams workflows, Slack and Mattermost incoming
// webhooks, or any receiver of JSON. See package webhook for its settings.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := sdk.Serve(webhook.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
