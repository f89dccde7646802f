package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// OutboxFile is the outbox's file under data_dir.
const OutboxFile = "outbox.db"

// OutboxPath returns where the agent configured with dataDir keeps its
// outbox.
func OutboxPath(dataDir string) string { return filepath.Join(dataDir, OutboxFile) }

// policy is the dispatcher's retry policy from the delivery block.
func policy(d config.Delivery) delivery.Policy {
	p := delivery.DefaultPolicy()
	p.Initial, p.Max, p.MaxAge, p.BatchSize = d.RetryInitial, d.RetryMax, d.MaxAge, d.BatchSize
	return p
}

// dispatchTransports is the dispatcher's view of the agent's transports:
// the sender of each, and sends through its plugin.
type dispatchTransports struct{ a *Agent }

var (
	_ delivery.Transports   = dispatchTransports{}
	_ delivery.ByteLimits   = dispatchTransports{}
	_ delivery.SendTimeouts = dispatchTransports{}
)

func (d dispatchTransports) transport(name string) (*liveTransport, error) {
	lt := d.a.current().transports[name]
	if lt == nil {
		return nil, fmt.Errorf("transport %s: %w", name, delivery.ErrUnknownTransport)
	}
	return lt, nil
}

// From returns transport name's sender, from its block (a transport that
// failed to start has one too).
func (d dispatchTransports) From(name string) (sdk.Address, error) {
	lt, err := d.transport(name)
	if err != nil {
		return sdk.Address{}, err
	}
	return lt.sender()
}

// Send sends msgs through transport name's plugin. A transport a reload
// just replaced hands the send to its successor; one that failed to start
// fails it temporarily, with its start error and remedy. Sends in flight
// hold the transport: a reload that replaces it stops its plugin only once
// they are over (or after drain_timeout).
func (d dispatchTransports) Send(ctx context.Context, name string, msgs []*sdk.Message) ([]sdk.Result, error) {
	var prev *liveTransport
	for {
		lt, err := d.transport(name)
		if err != nil {
			return nil, err
		}
		t, release, err := lt.acquire()
		if errors.Is(err, errReplaced) && lt != prev {
			prev = lt
			continue // a reload installs the successor before it retires lt
		}
		if errors.Is(err, errReplaced) {
			return nil, sdk.TemporaryError(fmt.Errorf("transport %s: %w; the agent is stopping", name, err), "", "The notification stays in the outbox and is sent at the next start.")
		}
		if err != nil {
			return nil, err
		}
		res, err := t.Send(ctx, msgs)
		release()
		return withRemedies(res, err, lt.isRetired())
	}
}

// withRemedies gives a plugin's errors that came without a remedy one:
// that of a send cut short by a reload when replaced, else a general one.
func withRemedies(res []sdk.Result, err error, replaced bool) ([]sdk.Result, error) {
	remedy := remedyPlugin
	if replaced {
		remedy = remedyReplaced
	}
	fill := func(err error) error {
		if err == nil {
			return nil
		}
		de := sdk.AsDeliveryError(err)
		if de.Remedy != "" {
			return err
		}
		c := *de
		c.Remedy = remedy
		return &c
	}
	if err != nil {
		return nil, fill(err)
	}
	for i := range res {
		res[i].Err = fill(res[i].Err)
	}
	return res, nil
}

// Batch reports whether transport name takes several messages per Send.
func (d dispatchTransports) Batch(name string) bool {
	lt := d.a.current().transports[name]
	if lt == nil {
		return false
	}
	t, _ := lt.current()
	return t != nil && t.Description != nil && t.Description.Batch
}

// Rate returns transport name's rate_limit.
func (d dispatchTransports) Rate(name string) delivery.Rate {
	lt := d.a.current().transports[name]
	if lt == nil {
		return delivery.Rate{}
	}
	tc := lt.config()
	if tc == nil {
		return delivery.Rate{}
	}
	return delivery.Rate{Messages: tc.RateLimit.Messages, Per: tc.RateLimit.Per}
}

// MaxBatchBytes returns transport name's byte budget per Send: what its
// plugin says it takes (sdk.Description.MessageLimit; gRPC's 4 MiB for a
// plugin built with an older SDK). A single message over it fails
// permanently on that transport, so the next one of the contact's via
// list gets it.
func (d dispatchTransports) MaxBatchBytes(name string) int {
	lt := d.a.current().transports[name]
	if lt == nil {
		return sdk.DefaultMessageBytes
	}
	t, _ := lt.current()
	if t == nil {
		return sdk.DefaultMessageBytes
	}
	return t.Description.MessageLimit()
}

// SendTimeout returns transport name's send_timeout (0: the default).
func (d dispatchTransports) SendTimeout(name string) time.Duration {
	lt := d.a.current().transports[name]
	if lt == nil {
		return 0
	}
	if tc := lt.config(); tc != nil {
		return tc.SendTimeout
	}
	return 0
}

// deliveryLog is the dispatcher's observer: it logs each outcome and
// counts them for /v1/status.
type deliveryLog struct {
	logger hclog.Logger

	mu                                    sync.Mutex
	sent, retried, fellBack, deadLettered int
}

var _ delivery.Observer = (*deliveryLog)(nil)

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
	// StoreFailing is set while notifications cannot be stored in the
	// outbox (a full disk): the agent is degraded.
	StoreFailing *StoreFailing `json:"store_failing,omitempty"`
	// Transports holds every configured transport's state, by name.
	Transports map[string]TransportDelivery `json:"transports"`
}

// Transport states in /v1/status.
const (
	// TransportUp is a transport whose plugin started and took its
	// settings.
	TransportUp = "up"
	// TransportFailed is a transport whose plugin did not start or
	// refused its settings; the agent keeps trying to start it, and its
	// entries wait (or fall back along via after max_age).
	TransportFailed = "failed"
)

// TransportDelivery is what holds a transport back, if anything.
type TransportDelivery struct {
	// State is TransportUp or TransportFailed.
	State string `json:"state"`
	// Error is why a failed transport did not start, and Remedy what to
	// do about it; NextStart is its next attempt.
	Error     string    `json:"error,omitempty"`
	Remedy    string    `json:"remedy,omitempty"`
	NextStart time.Time `json:"next_start,omitzero"`
	// RateLimit is its rate_limit, as "30/1m0s"; empty when none.
	RateLimit string `json:"rate_limit,omitempty"`
	// Failing is its current run of failed attempts; nil after a success.
	Failing *TransportFailing `json:"failing,omitempty"`
	// PausedUntil is the end of a provider's Retry-After.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	// ThrottledUntil is when its rate_limit lets the next message go.
	ThrottledUntil time.Time `json:"throttled_until,omitzero"`
	// Test is its test mail, for a transport with test_to.
	Test *TransportTestStatus `json:"test,omitempty"`
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
	s.StoreFailing = a.storeStatus()
	s.Transports = map[string]TransportDelivery{}
	holds, failing := a.dispatcher.Holds(), a.watch.Failing()
	for name, lt := range a.current().transports {
		td := TransportDelivery{State: TransportUp, PausedUntil: holds[name].PausedUntil.UTC(), ThrottledUntil: holds[name].ThrottledUntil.UTC()}
		if tc := lt.config(); tc != nil && !tc.RateLimit.IsZero() {
			td.RateLimit = tc.RateLimit.String()
		}
		if _, f := lt.current(); f != nil {
			td.State, td.Error, td.Remedy, td.NextStart = TransportFailed, f.err, f.remedy, f.next.UTC()
		}
		if f, ok := failing[name]; ok {
			td.Failing = &TransportFailing{Failures: f.Failures, Since: f.Since.UTC(), LastError: f.LastError}
		}
		td.Test = a.testStatus(name)
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
// nothing. A store that fails (a full disk) is counted and makes the agent
// degraded until one succeeds (storeFailed); the notifications of the
// rules that watch the alerting channel are then sent without being
// stored (sendUnstored), so that the warning about it gets out.
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
	if marks, entries = a.silenced(marks, entries); len(entries) == 0 {
		return nil // silenced: silenced logged it
	}
	// The transports connect and log in while the entries are synced,
	// and the dispatcher takes them as soon as they are: nothing is sent
	// before they are stored.
	a.dispatcher.Warm(entries)
	handOff := a.dispatcher.Claim(entries)
	stored, err := a.outbox.EnqueueStored(ctx, marks, entries...)
	if err != nil {
		handOff(nil)
		if ctx.Err() != nil {
			return fmt.Errorf("enqueue %d notification(s): %w", len(entries), err) // stopping, not failing
		}
		a.storeFailed(len(entries), err)
		if a.sendUnstored(ctx, entries) {
			return nil
		}
		return fmt.Errorf("enqueue %d notification(s): %w", len(entries), err)
	}
	handOff(stored)
	a.storeOK()
	for _, e := range entries {
		a.metrics.Enqueued(e.Rule, e.Contact)
	}
	return nil
}

// Notice is mail from the agent itself rather than from a rule, such as
// dev mode's startup mail.
type Notice struct {
	// Source stands where a rule's name would: in the outbox, the log and
	// the metrics.
	Source string
	// Contact is who is told: the mail goes to its addresses, through its
	// via list.
	Contact string
	// Mail is what is said; Enqueue sets its recipients.
	Mail outbox.Mail
}

// NoticeEvent is the event of a Notice's outbox entry, where a rule's
// says fire or resolve.
const NoticeEvent = "notice"

// Enqueue stores n in the outbox under a new Message-ID, which it returns:
// the dispatcher delivers it as it does a rule's notification, with
// retries and fallback along the contact's via list. A muted agent stores
// nothing (and returns no ID), as for the rules.
func (a *Agent) Enqueue(ctx context.Context, n Notice) (string, error) {
	cur := a.current()
	c := cur.cfg.Contact(n.Contact)
	if c == nil {
		return "", fmt.Errorf("enqueue: no contact %q", n.Contact)
	}
	e, err := notify.ForContact(cur.cfg.Agent.Node, c.Name, c.Email, c.Via, n.Mail, a.now())
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	e.Rule, e.Event = n.Source, NoticeEvent
	if err := a.enqueue(ctx, nil, []*outbox.Entry{e}); err != nil || cur.cfg.Agent.Mute {
		return "", err // muted: enqueue logged it and stored nothing
	}
	return e.ID, nil
}

// storeRemedy is what to do when notifications cannot be stored.
const storeRemedy = "Free space (or fix the file system) under data_dir; each rule tries again at its next evaluation, and nothing is lost meanwhile"

// storeFailed records that n notifications could not be written to the
// outbox with err: tocsin_outbox_store_failures_total, the outbox fact
// (store_error, store_failing_for), and a degraded /healthz and
// /v1/status until storeOK. Every path that writes notifications to the
// outbox calls it when the write fails (not when its context ended).
func (a *Agent) storeFailed(n int, err error) {
	a.metrics.StoreFailed(n)
	if a.watch == nil {
		return
	}
	if a.watch.StoreFailed(n, err) {
		a.logger.Error("notifications cannot be stored in the outbox: the agent is degraded until a write succeeds",
			"outbox", a.outbox.Path(), "error", err, "remedy", storeRemedy)
	}
}

// storeOK records that a write of notifications to the outbox succeeded,
// which ends a degraded state of storeFailed.
func (a *Agent) storeOK() {
	if a.watch == nil {
		return
	}
	if s, ended := a.watch.StoreOK(); ended {
		a.logger.Info("notifications are stored in the outbox again", "failed", s.Failures, "for", a.now().Sub(s.Since).Round(time.Second))
	}
}

// unstoredTimeout bounds sendUnstored.
const unstoredTimeout = time.Minute

// sendUnstored sends entries that could not be stored right away, through
// each contact's via chain, without the outbox: only when every entry
// comes from a rule that reads the outbox fact (the library's
// delivery_failing and outbox_store_failing, or the operator's own): the
// warning that the disk is full must not wait for the disk. It reports
// whether every entry was sent; the rule's state then moves on (and is
// saved if it can be). When one was not, the rule tries again at its next
// evaluation, as for any store failure; those that went out then go out
// again, under a new Message-ID. Nothing is retried here: there is no
// outbox to retry from.
func (a *Agent) sendUnstored(ctx context.Context, entries []*outbox.Entry) bool {
	cur := a.current()
	watches := map[string]bool{}
	for _, r := range cur.cfg.Rules {
		watches[r.Name] = r.Reads("outbox")
	}
	for _, e := range entries {
		if !watches[e.Rule] {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, unstoredTimeout)
	defer cancel()
	all := true
	for _, e := range entries {
		name, _, err := a.sendNow(ctx, e)
		if err != nil {
			a.logger.Error("notification neither stored nor sent; the rule tries again at its next evaluation", "rule", e.Rule, "contact", e.Contact, "message_id", e.ID, "error", err)
			all = false
			continue
		}
		a.logger.Warn("notification sent without being stored (the outbox cannot be written)", "rule", e.Rule, "contact", e.Contact, "transport", name, "message_id", e.ID)
	}
	return all
}

// sendNow sends e through the first transport of its chain that takes it,
// as the dispatcher would but without the outbox, so without retries. It
// returns the transport that took it and its receipt, or the errors of
// every transport tried.
func (a *Agent) sendNow(ctx context.Context, e *outbox.Entry) (string, string, error) {
	d := dispatchTransports{a}
	var errs []error
	for _, name := range e.Via {
		from, err := d.From(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := d.Send(ctx, name, []*sdk.Message{notify.Message(e, from)})
		if err == nil && len(res) != 1 {
			err = fmt.Errorf("plugin returned %d results for 1 message", len(res))
		}
		if err == nil {
			err = res[0].Err
		}
		if err == nil {
			return name, res[0].Receipt, nil
		}
		errs = append(errs, fmt.Errorf("transport %s: %w", name, err))
	}
	if len(errs) == 0 {
		return "", "", errors.New("the contact has no transport")
	}
	return "", "", errors.Join(errs...)
}

// StoreFailing is the part of /v1/status that says notifications cannot
// be stored in the outbox (a full or failing disk).
type StoreFailing struct {
	// Failures counts the notifications not stored since the last write
	// that succeeded.
	Failures int `json:"failures"`
	// Since is the first of them, LastAt the last.
	Since  time.Time `json:"since"`
	LastAt time.Time `json:"last_at"`
	// LastError is the last write's error.
	LastError string `json:"last_error"`
	// Remedy says what to do.
	Remedy string `json:"remedy"`
}

// storeStatus is the store part of /v1/status; nil while storing works.
func (a *Agent) storeStatus() *StoreFailing {
	if a.watch == nil {
		return nil
	}
	s, failing := a.watch.StoreFailing()
	if !failing {
		return nil
	}
	return &StoreFailing{Failures: s.Failures, Since: s.Since.UTC(), LastAt: s.LastAt.UTC(), LastError: s.LastError, Remedy: storeRemedy}
}

// marks returns the engine's hand-off marks stored in the outbox.
func (a *Agent) marks() (map[string]outbox.Mark, error) { return a.outbox.Marks() }

// pluginStarts reports how often each transport's plugin process started.
func (a *Agent) pluginStarts() map[string]int {
	out := map[string]int{}
	for name, t := range a.current().transports.up() {
		if in, ok := t.Plugin.(interface{ Starts() int }); ok {
			out[name] = in.Starts()
		}
	}
	return out
}

// transportsUp reports, by transport, whether it is up.
func (a *Agent) transportsUp() map[string]bool {
	out := map[string]bool{}
	for name, lt := range a.current().transports {
		t, _ := lt.current()
		out[name] = t != nil
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
