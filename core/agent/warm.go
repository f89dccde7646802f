package agent

import (
	"context"
	"sync"

	"github.com/tocsin-dev/tocsin/core/delivery"
)

var _ delivery.Warmer = dispatchTransports{}

const (
	// warmPerConnection and maxWarmups size a warm-up: one empty Send for
	// every warmPerConnection messages, at most maxWarmups, which is how
	// the bundled SMTP plugins spread a batch over their connections (a
	// connection for every 4 messages, max_connections 4 by default). A
	// plugin dials no more than its own max_connections whatever it is
	// asked.
	warmPerConnection = 4
	maxWarmups        = 4
)

// Warm gets transport name ready for n messages while they are stored:
// it makes empty Sends to its plugin at once, one per connection the
// messages will use. An empty Send sends nothing (the SDK's conformance
// suite holds every plugin to returning no results and no error for it);
// the bundled SMTP plugins take it to dial and log in to a connection
// when none is idle (smtpsend.Sender.Warm), and other plugins ignore it.
// A transport that is not up is not asked: its Send fails anyway.
func (d dispatchTransports) Warm(ctx context.Context, name string, n int) {
	lt := d.a.current().transports[name]
	if lt == nil || n <= 0 {
		return
	}
	if t, _ := lt.current(); t == nil {
		return
	}
	k := min((n+warmPerConnection-1)/warmPerConnection, maxWarmups)
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() { _, _ = d.Send(ctx, name, nil) })
	}
	wg.Wait()
}
