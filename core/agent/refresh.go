package agent

import (
	"context"
	"time"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/refresh"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// refreshTick is how often the agent looks for firing alerts due for a
// refresh; the transports' intervals are minutes.
const refreshTick = time.Second

// refreshing is the agent's keeper of firing alerts (core/refresh) and
// the loop that runs it.
type refreshing struct {
	keeper *refresh.Keeper
	cancel context.CancelFunc
	done   chan struct{}
}

// openRefresh opens the keeper of firing alerts in dataDir. A file it
// cannot read is reported; the agent goes on, refreshing alerts again
// from their rules' next notification.
func (a *Agent) openRefresh(dataDir string) {
	k, err := refresh.Open(dataDir, dispatchTransports{a}, a.logger.Named("refresh"), refresh.Options{Now: a.now})
	if err != nil {
		a.logger.Warn("the firing alerts to refresh cannot be read", "error", err)
	}
	a.refresh = &refreshing{keeper: k, done: make(chan struct{})}
}

// runRefresh starts the keeper's loop; stopRefresh ends it.
func (a *Agent) runRefresh(ctx context.Context) {
	ctx, a.refresh.cancel = context.WithCancel(ctx)
	go func() {
		defer close(a.refresh.done)
		a.refresh.keeper.Run(ctx, refreshTick, a.ruleFiring)
	}()
}

// stopRefresh ends the loop of runRefresh, if it runs, and waits for it.
func (a *Agent) stopRefresh() {
	if a.refresh == nil || a.refresh.cancel == nil {
		return
	}
	a.refresh.cancel()
	<-a.refresh.done
}

// ruleFiring reports whether the running engine's rule name fires.
func (a *Agent) ruleFiring(name string) bool {
	eng := a.current().engine
	return eng != nil && eng.Firing(name)
}

// RefreshInterval is how often transport name's plugin asked for its
// firing alerts again (sdk.AlertRefresher) when it was configured; 0 for
// none, or for a transport that is not up.
func (d dispatchTransports) RefreshInterval(name string) time.Duration {
	lt := d.a.current().transports[name]
	if lt == nil {
		return 0
	}
	if t, _ := lt.current(); t != nil {
		return t.refresh
	}
	return 0
}

// reportedRefresh asks a configured plugin how often its firing alerts
// are to be sent again: 0 when it does not say.
func reportedRefresh(ctx context.Context, p sdk.Transport) time.Duration {
	r, ok := p.(sdk.AlertRefresher)
	if !ok {
		return 0
	}
	d, err := r.AlertRefreshInterval(ctx)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// refreshObserver hands every delivery to the keeper of firing alerts,
// then to next.
type refreshObserver struct {
	keeper *refresh.Keeper
	delivery.Observer
}

// Sent records a delivered alert for refreshing, then tells next.
func (o refreshObserver) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	o.keeper.Delivered(e, transport)
	o.Observer.Sent(e, transport, receipt, latency)
}
