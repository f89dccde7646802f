package delivery

import (
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Observer receives what happens to entries, for logs and metrics. Its
// methods are called from the dispatcher's goroutines, concurrently, and
// must not block; they must not modify the entry.
type Observer interface {
	// Sent reports that transport accepted e, with the provider's receipt
	// and the time the Send call took.
	Sent(e *outbox.Entry, transport, receipt string, latency time.Duration)
	// Retried reports a temporary failure: e is tried again on the same
	// transport at next.
	Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time)
	// FellBack reports that e moves from one transport of its chain to the
	// next, after err (permanent, or temporary for longer than the max
	// age).
	FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError)
	// DeadLettered reports that e failed on every transport of its chain;
	// err is the last failure. The entry stays in the outbox, dead.
	DeadLettered(e *outbox.Entry, err *sdk.DeliveryError)
}

// NopObserver is an Observer that ignores everything.
type NopObserver struct{}

// Sent does nothing.
func (NopObserver) Sent(*outbox.Entry, string, string, time.Duration) {}

// Retried does nothing.
func (NopObserver) Retried(*outbox.Entry, string, *sdk.DeliveryError, time.Time) {}

// FellBack does nothing.
func (NopObserver) FellBack(*outbox.Entry, string, string, *sdk.DeliveryError) {}

// DeadLettered does nothing.
func (NopObserver) DeadLettered(*outbox.Entry, *sdk.DeliveryError) {}
