package agent

import (
	"context"
	"errors"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Send sends msgs through the transport's plugin, with the transport's
// secrets scrubbed from what the plugin answers (see Scrub). Every caller
// that shows a plugin's errors to someone sends through here, not through
// Plugin.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	res, err := t.Plugin.Send(ctx, msgs)
	if err != nil {
		return nil, t.scrubError(err)
	}
	for i := range res {
		res[i].Err = t.scrubError(res[i].Err)
		res[i].Receipt = t.Scrub(res[i].Receipt)
	}
	return res, nil
}

// Check asks the transport's plugin whether it can send, with the
// transport's secrets scrubbed from its error.
func (t *Transport) Check(ctx context.Context) error {
	return t.scrubError(t.Plugin.Check(ctx))
}

// Scrub returns s with the transport's secrets replaced by "(sensitive)":
// the decoded values of its sensitive settings and the login stored for
// it by tocsin oauth login, as the plugin has it now. A plugin's text
// (an error that quotes the password a server refused, a provider reply
// that echoes a token) passes through here before it reaches the outbox,
// /v1/status, a log line or a mail.
func (t *Transport) Scrub(s string) string {
	s = t.Config.Scrub(s)
	if t.credential != nil {
		if c := t.credential.Load(); c != nil {
			s = config.ScrubValues(s, *c)
		}
	}
	return s
}

// scrubError is err with the transport's secrets scrubbed from its text.
// An error that holds none comes back as it is, so that errors.Is still
// sees what it wraps; one that does becomes a delivery error of the same
// kind, code, remedy and Retry-After, each text scrubbed. Text a caller
// wrapped around a plugin's delivery error is dropped with the secret.
func (t *Transport) scrubError(err error) error {
	if err == nil {
		return nil
	}
	de := sdk.AsDeliveryError(err)
	clean := true
	for _, s := range []string{err.Error(), de.Code, de.Reply, de.Remedy} {
		clean = clean && t.Scrub(s) == s
	}
	if clean {
		return err
	}
	c := *de
	c.Code, c.Reply, c.Remedy = t.Scrub(de.Code), t.Scrub(de.Reply), t.Scrub(de.Remedy)
	if de.Err != nil {
		c.Err = errors.New(t.Scrub(de.Err.Error()))
	}
	return &c
}
