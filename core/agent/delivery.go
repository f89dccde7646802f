package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/dispatch"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// OutboxFile is the outbox's file under data_dir.
const OutboxFile = "outbox.db"

// OutboxPath returns where the agent configured with dataDir keeps its
// outbox.
func OutboxPath(dataDir string) string { return filepath.Join(dataDir, OutboxFile) }

// policy is the dispatcher's retry policy from the delivery block.
func policy(d config.Delivery) dispatch.Policy {
	p := dispatch.DefaultPolicy()
	p.Initial, p.Max, p.MaxAge, p.BatchSize = d.RetryInitial, d.RetryMax, d.MaxAge, d.BatchSize
	return p
}

// dispatchTransports is the dispatcher's view of the agent's transports:
// it builds each entry's message with the sender of the transport trying
// it, and sends through the transport's plugin.
type dispatchTransports struct{ a *Agent }

var _ dispatch.Transports = dispatchTransports{}

func (d dispatchTransports) transport(name string) (*Transport, error) {
	t := d.a.current().transports[name]
	if t == nil {
		return nil, fmt.Errorf("transport %s: %w", name, dispatch.ErrUnknownTransport)
	}
	return t, nil
}

// Message builds e's message for transport name.
func (d dispatchTransports) Message(name string, e *outbox.Entry) (*sdk.Message, error) {
	t, err := d.transport(name)
	if err != nil {
		return nil, err
	}
	return t.Message(e.ID, e.Mail.To, Mail{
		Subject: e.Mail.Subject, Text: e.Mail.Text, HTML: e.Mail.HTML,
		Headers: e.Mail.Headers, Attachments: e.Mail.Attachments,
	}, e.EnqueuedAt)
}

// Send sends msgs through transport name's plugin.
func (d dispatchTransports) Send(ctx context.Context, name string, msgs []*sdk.Message) ([]sdk.Result, error) {
	t, err := d.transport(name)
	if err != nil {
		return nil, err
	}
	return t.Plugin.Send(ctx, msgs)
}

// Batch reports whether transport name takes several messages per Send.
func (d dispatchTransports) Batch(name string) bool {
	t := d.a.current().transports[name]
	return t != nil && t.Description != nil && t.Description.Batch
}

// Rate returns transport name's rate_limit.
func (d dispatchTransports) Rate(name string) dispatch.Rate {
	t := d.a.current().transports[name]
	if t == nil || t.Config == nil {
		return dispatch.Rate{}
	}
	return dispatch.Rate{Messages: t.Config.RateLimit.Messages, Per: t.Config.RateLimit.Per}
}

// deliveryLog is the dispatcher's observer: it logs each outcome and
// counts them for /v1/status.
type deliveryLog struct {
	logger hclog.Logger

	mu                                    sync.Mutex
	sent, retried, fellBack, deadLettered int
}

var _ dispatch.Observer = (*deliveryLog)(nil)

// Sent logs a delivery.
func (l *deliveryLog) Sent(e *outbox.Entry, transport, receipt string, latency time.Duration) {
	l.count(&l.sent)
	l.logger.Info("notification sent", "rule", e.Rule, "contact", e.Contact, "transport", transport, "message_id", e.ID, "attempts", e.TotalAttempts+1, "latency", latency, "receipt", receipt)
}

// Retried logs a temporary failure.
func (l *deliveryLog) Retried(e *outbox.Entry, transport string, err *sdk.DeliveryError, next time.Time) {
	l.count(&l.retried)
	l.logger.Warn("notification not sent; retrying", "rule", e.Rule, "contact", e.Contact, "transport", transport, "message_id", e.ID, "attempt", e.Attempts, "next", next.UTC().Format(time.RFC3339), "error", err, "remedy", err.Remedy)
}

// FellBack logs a move to the next transport of the chain.
func (l *deliveryLog) FellBack(e *outbox.Entry, from, to string, err *sdk.DeliveryError) {
	l.count(&l.fellBack)
	l.logger.Warn("transport failed; trying the next one of the contact's via list", "rule", e.Rule, "contact", e.Contact, "from", from, "to", to, "message_id", e.ID, "error", err, "remedy", err.Remedy)
}

// DeadLettered logs a notification no transport could send.
func (l *deliveryLog) DeadLettered(e *outbox.Entry, err *sdk.DeliveryError) {
	l.count(&l.deadLettered)
	l.logger.Error("notification failed on every transport of the contact; kept as a dead letter (tocsin outbox list)", "rule", e.Rule, "contact", e.Contact, "via", e.Via, "message_id", e.ID, "error", err, "remedy", err.Remedy)
}

func (l *deliveryLog) count(n *int) {
	l.mu.Lock()
	*n++
	l.mu.Unlock()
}

// DeliveryStatus is the delivery part of /v1/status.
type DeliveryStatus struct {
	Pending       int       `json:"pending"`
	Dead          int       `json:"dead"`
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	Sent          int       `json:"sent"`
	Retried       int       `json:"retried"`
	FellBack      int       `json:"fell_back"`
	DeadLettered  int       `json:"dead_lettered"`
	Error         string    `json:"error,omitempty"`
	// Transports holds every configured transport's state, by name.
	Transports map[string]TransportDelivery `json:"transports"`
}

// TransportDelivery is what holds a transport back, if anything.
type TransportDelivery struct {
	// RateLimit is its rate_limit, as "30/1m0s"; empty when none.
	RateLimit string `json:"rate_limit,omitempty"`
	// Failing is its current run of failed attempts; nil after a success.
	Failing *TransportFailing `json:"failing,omitempty"`
	// PausedUntil is the end of a provider's Retry-After.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	// ThrottledUntil is when its rate_limit lets the next message go.
	ThrottledUntil time.Time `json:"throttled_until,omitzero"`
}

// TransportFailing is a transport's run of failed attempts since its
// last success, as the outbox fact has it.
type TransportFailing struct {
	Failures  int       `json:"failures"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error"`
}

func (a *Agent) deliveryStatus() DeliveryStatus {
	a.deliveries.mu.Lock()
	s := DeliveryStatus{Sent: a.deliveries.sent, Retried: a.deliveries.retried, FellBack: a.deliveries.fellBack, DeadLettered: a.deliveries.deadLettered}
	a.deliveries.mu.Unlock()
	s.Transports = map[string]TransportDelivery{}
	holds, failing := a.dispatcher.Holds(), a.watch.failing()
	for name, t := range a.current().transports {
		td := TransportDelivery{PausedUntil: holds[name].PausedUntil.UTC(), ThrottledUntil: holds[name].ThrottledUntil.UTC()}
		if t.Config != nil && !t.Config.RateLimit.IsZero() {
			td.RateLimit = t.Config.RateLimit.String()
		}
		if f, ok := failing[name]; ok {
			td.Failing = &TransportFailing{Failures: f.failures, Since: f.since.UTC(), LastError: f.lastError}
		}
		s.Transports[name] = td
	}
	st, err := a.outbox.Stats()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Pending, s.Dead, s.OldestPending = st.Pending, st.Dead, st.OldestPending
	return s
}

// enqueue stores entries durably, with the engine's hand-off marks in the
// same transaction, and wakes the dispatcher. A muted agent records
// nothing.
func (a *Agent) enqueue(ctx context.Context, marks []outbox.Mark, entries []*outbox.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if a.current().cfg.Agent.Mute {
		for _, e := range entries {
			a.logger.Info("muted: not delivering", "rule", e.Rule, "contact", e.Contact, "subject", e.Mail.Subject)
		}
		return nil
	}
	if err := a.outbox.EnqueueWithMarks(ctx, marks, entries...); err != nil {
		return fmt.Errorf("enqueue %d notification(s): %w", len(entries), err)
	}
	for _, e := range entries {
		a.metrics.Enqueued(e.Rule, e.Contact)
	}
	a.dispatcher.Kick()
	return nil
}

// marks returns the engine's hand-off marks stored in the outbox.
func (a *Agent) marks() (map[string]outbox.Mark, error) { return a.outbox.Marks() }

// pluginStarts reports how often each transport's plugin process started.
func (a *Agent) pluginStarts() map[string]int {
	out := map[string]int{}
	for name, t := range a.current().transports {
		if in, ok := t.Plugin.(interface{ Starts() int }); ok {
			out[name] = in.Starts()
		}
	}
	return out
}

// countedCredentials counts the rotated tokens it stores.
type countedCredentials struct {
	Credentials
	m *metrics.Metrics
}

// SaveCredential stores value and counts the rotation.
func (c countedCredentials) SaveCredential(transport, value string) error {
	if err := c.Credentials.SaveCredential(transport, value); err != nil {
		return err
	}
	c.m.TokenRefreshed(transport)
	return nil
}
