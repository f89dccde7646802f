package pluginhost

import (
	"context"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

var _ sdk.CredentialReporter = (*Instance)(nil)

// CredentialLifetime returns what the plugin said of its credential's
// lifetime with its last Configure (sdk.CredentialReporter): nil from a
// plugin that does not say, such as one built before the SDK asked.
func (in *Instance) CredentialLifetime(ctx context.Context) (*sdk.CredentialLifetime, error) {
	var l *sdk.CredentialLifetime
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		if r, ok := t.(sdk.CredentialReporter); ok {
			l, err = r.CredentialLifetime(ctx)
		}
		return err
	})
	return l, err
}

var _ sdk.AlertRefresher = (*Instance)(nil)

// AlertRefreshInterval returns how often the plugin asked, with its last
// Configure, for its firing alerts to be sent again
// (sdk.AlertRefresher): 0 from a plugin that does not ask, such as one
// built before the SDK could.
func (in *Instance) AlertRefreshInterval(ctx context.Context) (time.Duration, error) {
	var d time.Duration
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		if r, ok := t.(sdk.AlertRefresher); ok {
			d, err = r.AlertRefreshInterval(ctx)
		}
		return err
	})
	return d, err
}
