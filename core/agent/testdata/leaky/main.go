// Command leaky is a transport plugin that misbehaves as a careless
// third-party plugin could: its Configure fails with an error that quotes
// its sensitive password setting, so a test can check that the agent does
// not print it.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type leaky struct{}

func (leaky) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    "leaky",
		Version: "1",
		Schema:  sdk.Schema{{Name: "password", Type: sdk.TypeString, Sensitive: true, Required: true}},
	}, nil
}

func (leaky) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s struct {
		Password string `json:"password"`
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode settings: %w", err)
	}
	return nil, fmt.Errorf("login refused: the server rejected the password %q", s.Password)
}

func (leaky) Check(context.Context) error { return errors.New("not configured") }

func (leaky) Send(context.Context, []*sdk.Message) ([]sdk.Result, error) {
	return nil, errors.New("not configured")
}

func main() { sdk.Serve(leaky{}) }
