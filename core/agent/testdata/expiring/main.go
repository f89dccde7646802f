// Command expiring is a transport plugin that says when its credential
// expires (sdk.CredentialReporter): at its setting expires, an RFC 3339
// time, or nothing when the setting is not given. It sends nothing.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type expiring struct{ expires time.Time }

func (*expiring) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    "expiring",
		Version: "1",
		Schema:  sdk.Schema{{Name: "expires", Type: sdk.TypeString}},
	}, nil
}

func (e *expiring) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s struct {
		Expires string `json:"expires"`
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode settings: %w", err)
	}
	e.expires = time.Time{}
	if s.Expires != "" {
		t, err := time.Parse(time.RFC3339, s.Expires)
		if err != nil {
			return sdk.Diagnostics{}.Errorf("expires", "Write an RFC 3339 time.", "%v", err), nil
		}
		e.expires = t
	}
	return nil, nil
}

func (e *expiring) CredentialLifetime(context.Context) (*sdk.CredentialLifetime, error) {
	if e.expires.IsZero() {
		return nil, nil
	}
	return &sdk.CredentialLifetime{Expires: e.expires, What: "API key alerts-2026"}, nil
}

func (*expiring) Check(context.Context) error { return nil }

func (*expiring) Send(context.Context, []*sdk.Message) ([]sdk.Result, error) {
	return nil, sdk.PermanentError(errors.New("the expiring plugin sends nothing"), "", "Use it in tests only.")
}

func main() { sdk.Serve(&expiring{}) }
