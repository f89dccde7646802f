package xoauth2send

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// ErrNotConfigured is what Check and Send fail with before a Configure
// without error diagnostics.
var ErrNotConfigured = sdk.PermanentError(errors.New("transport is not configured"), "", "Fix the errors `tocsin validate` reports for this transport.")

// Slot holds what a transport's Check and Send use: the Sender of the last
// good Configure, or the error they fail with instead. The zero value
// fails with ErrNotConfigured. It is safe for concurrent use.
type Slot struct {
	mu     sync.RWMutex
	sender *Sender
	err    error
}

// Set makes Check and Send use s.
func (sl *Slot) Set(s *Sender) {
	sl.mu.Lock()
	sl.sender, sl.err = s, nil
	sl.mu.Unlock()
}

// Fail makes Check and Send fail with err, or with ErrNotConfigured when
// err is nil.
func (sl *Slot) Fail(err error) {
	sl.mu.Lock()
	sl.sender, sl.err = nil, err
	sl.mu.Unlock()
}

// Sender returns the current Sender, or the error Check and Send fail with.
func (sl *Slot) Sender() (*Sender, error) {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	switch {
	case sl.sender != nil:
		return sl.sender, nil
	case sl.err != nil:
		return nil, sl.err
	default:
		return nil, ErrNotConfigured
	}
}

// Check runs the current Sender's Check.
func (sl *Slot) Check(ctx context.Context) error {
	s, err := sl.Sender()
	if err != nil {
		return err
	}
	return s.Check(ctx)
}

// Send runs the current Sender's Send.
func (sl *Slot) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := sl.Sender()
	if err != nil {
		return nil, err
	}
	return s.Send(ctx, msgs)
}

// LoginCommand is the command that stores a refresh token for transport.
// The plugin does not know the config file's path, so PATH stays for the
// operator to fill in.
func LoginCommand(transport string) string {
	return "tocsin oauth login -config PATH -transport " + transport
}

// NoLogin returns what a transport that needs `tocsin oauth login` reports
// while it has no refresh token: a warning about attribute for Configure,
// and the permanent error Check and Send fail with. account is the mailbox
// to log in as.
func NoLogin(transport, attribute, account string) (sdk.Diagnostic, *sdk.DeliveryError) {
	remedy := fmt.Sprintf("Run %q and sign in as %s.", LoginCommand(transport), account)
	err := sdk.PermanentError(fmt.Errorf("no refresh token stored for transport %q", transport), "", remedy)
	d := sdk.Diagnostic{
		Severity:  sdk.SeverityWarning,
		Attribute: attribute,
		Summary:   fmt.Sprintf("No refresh token stored for transport %q: run %q", transport, LoginCommand(transport)),
		Detail:    remedy + " Until then every send through this transport fails.",
	}
	return d, err
}
