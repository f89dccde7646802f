package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Observer returns a delivery.Observer that counts each event and then
// passes it on to next (nil for none):
//
//	tocsin_notifications_sent_total{transport, contact}
//	tocsin_notifications_retried_total{transport, contact}
//	tocsin_notifications_fell_back_total{transport, contact}      transport: the one that failed
//	tocsin_notifications_dead_lettered_total{transport, contact}  transport: the last one tried
//	tocsin_send_duration_seconds{transport}                       successful sends
//
// The four counters of a (transport, contact) pair appear together, at 0,
// with its first event, so increase() sees the first retry or dead letter.
// Counting never blocks. A nil m returns next (a delivery.NopObserver when
// next is nil).
func (m *Metrics) Observer(next delivery.Observer) delivery.Observer {
	if next == nil {
		next = delivery.NopObserver{}
	}
	if m == nil {
		return next
	}
	return &observer{m: m, next: next}
}

// observer counts the dispatcher's events and forwards them.
type observer struct {
	m    *Metrics
	next delivery.Observer
}

var _ delivery.Observer = (*observer)(nil)

// deliveries are the four counters of one (transport, contact) pair.
type deliveries struct {
	sent, retried, fellBack, deadLettered prometheus.Counter
}

// deliveries returns the counters of transport and e's contact, creating
// all four at once.
func (o *observer) deliveries(transport string, e *outbox.Entry) deliveries {
	lv := []string{label(transport), label(contact(e))}
	return deliveries{
		sent:         o.m.sent.WithLabelValues(lv...),
		retried:      o.m.retried.WithLabelValues(lv...),
		fellBack:     o.m.fellBack.WithLabelValues(lv...),
		deadLettered: o.m.deadLettered.WithLabelValues(lv...),
	}
}

// Sent counts a delivery and its latency, then forwards it.
func (o *observer) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	o.deliveries(transport, e).sent.Inc()
	o.m.sendDuration.WithLabelValues(label(transport)).Observe(latency.Seconds())
	o.next.Sent(e, transport, receipt, latency)
}

// Retried counts a temporary failure, then forwards it.
func (o *observer) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	o.deliveries(transport, e).retried.Inc()
	o.next.Retried(e, transport, err, next)
}

// FellBack counts a move to the next transport under the transport that
// failed (from), then forwards it.
func (o *observer) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	o.deliveries(from, e).fellBack.Inc()
	o.next.FellBack(e, from, to, err)
}

// DeadLettered counts a dead letter under the last transport tried, then
// forwards it.
func (o *observer) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	o.deliveries(lastTransport(e), e).deadLettered.Inc()
	o.next.DeadLettered(e, err)
}

// contact returns e's contact, "" for a nil entry.
func contact(e *outbox.Entry) string {
	if e == nil {
		return ""
	}
	return e.Contact
}

// lastTransport returns the transport a dead entry failed on last: the
// one of its last attempt, else the last of its via list; "" when it had
// none (a contact without transports).
func lastTransport(e *outbox.Entry) string {
	switch {
	case e == nil:
		return ""
	case e.Last != nil && e.Last.Transport != "":
		return e.Last.Transport
	case len(e.Via) > 0:
		return e.Via[len(e.Via)-1]
	}
	return ""
}
