// Command leaky is a transport plugin that misbehaves as a careless
// third-party plugin could: its errors quote its sensitive password
// setting and the stored login it was configured with, so a test can
// check that the agent does not pass them on. Its Configure fails unless
// the setting configure is "ok"; then Send and Check fail instead.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type leaky struct {
	password, credential string
}

func (*leaky) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    "leaky",
		Version: "1",
		Batch:   true,
		Schema: sdk.Schema{
			{Name: "password", Type: sdk.TypeString, Sensitive: true, Required: true},
			{Name: "configure", Type: sdk.TypeString, OneOf: []string{"fail", "ok"}},
		},
	}, nil
}

func (l *leaky) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s struct {
		Password  string `json:"password"`
		Configure string `json:"configure"`
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode settings: %w", err)
	}
	if s.Configure != "ok" {
		return nil, fmt.Errorf("login refused: the server rejected the password %q", s.Password)
	}
	l.password, l.credential = s.Password, cfg.Credential
	return nil, nil
}

func (l *leaky) Check(context.Context) error {
	return sdk.PermanentError(fmt.Errorf("AUTH PLAIN with %s refused", l.password), "535 5.7.8", "Check the password "+l.password+".")
}

// Send fails the first message as a whole-batch error would and every
// other one with an error of its own, each quoting the secrets in every
// field of a delivery error.
func (l *leaky) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	res := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		de := sdk.TemporaryError(fmt.Errorf("token %s expired", l.credential), "451 "+l.password, "Log in again; the old token was "+l.credential+".")
		de.Reply = "451 password " + l.password + " locked"
		de.RetryAfter = time.Minute
		res[i] = sdk.Result{MessageID: m.ID, Err: de, Receipt: "queued for " + l.password}
	}
	return res, nil
}

func main() { sdk.Serve(&leaky{}) }
