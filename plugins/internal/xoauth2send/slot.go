package xoauth2send

import (
	"context"
	"fmt"
	"sync"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// ErrNotConfigured is what Check and Send fail with before a Configure
// without error diagnostics (sdk.ErrNotConfigured).
var ErrNotConfigured = sdk.ErrNotConfigured

// Slot holds what a transport's Check and Send use: the Sender of the last
// good Configure (Set), or the error they fail with instead (Fail). The
// Sender it replaces is closed, with its connections. The zero value fails
// with ErrNotConfigured. It is safe for concurrent use.
type Slot struct {
	sdk.Configured[Sender]

	mu sync.Mutex // serializes Set, Fail and Close
}

// Set makes s the Sender (nil: ErrNotConfigured) and closes the one it
// replaces.
func (sl *Slot) Set(s *Sender) {
	sl.replace(func() { sl.Configured.Set(s) })
}

// Fail makes Check and Send fail with err (nil: ErrNotConfigured) and
// closes the Sender it replaces.
func (sl *Slot) Fail(err error) {
	sl.replace(func() { sl.Configured.Fail(err) })
}

// Close closes the current Sender, if any, and makes Check and Send fail
// with ErrNotConfigured. It always returns nil.
func (sl *Slot) Close() error {
	sl.Fail(nil)
	return nil
}

func (sl *Slot) replace(apply func()) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	old, _ := sl.Get()
	apply()
	if cur, _ := sl.Get(); old != nil && old != cur {
		_ = old.Close()
	}
}

// Check runs the current Sender's Check.
func (sl *Slot) Check(ctx context.Context) error {
	s, err := sl.Get()
	if err != nil {
		return err
	}
	return s.Check(ctx)
}

// Send runs the current Sender's Send.
func (sl *Slot) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := sl.Get()
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
