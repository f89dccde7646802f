// Command hangplugin is a transport plugin for tests that accepts its
// configuration and then hangs in Send, ignoring its context, as a plugin
// stuck on a dead connection would.
package main

import (
	"context"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type hang struct{}

func (hang) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{Name: "hang", Version: "test", Summary: "hangs in Send", Batch: true}, nil
}

func (hang) Configure(context.Context, sdk.Config) (sdk.Diagnostics, error) { return nil, nil }

func (hang) Check(context.Context) error { return nil }

func (hang) Send(context.Context, []*sdk.Message) ([]sdk.Result, error) {
	select {} // forever, whatever the context says
}

func main() { sdk.Serve(hang{}) }
