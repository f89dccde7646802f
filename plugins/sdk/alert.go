package sdk

import (
	"context"
	"maps"
	"time"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// AlertState is the state of a rule's alert.
type AlertState string

// The states of an alert.
const (
	// AlertFiring is an alert whose rule fires.
	AlertFiring AlertState = "firing"
	// AlertResolved is an alert whose rule stopped firing.
	AlertResolved AlertState = "resolved"
)

// Alert says which alert a [Message] is about, for a transport that hands
// alerts to an alerting system (Prometheus Alertmanager, an incident
// tool) rather than mailing a person. The agent sets it on every
// notification of a rule; it is nil on other mail (test mails) and from an
// agent built before it existed (an optional field of protocol 1).
type Alert struct {
	// Name is the rule's name.
	Name string
	// State is AlertFiring or AlertResolved.
	State AlertState
	// Labels identify the alert across a fleet: "node" (the agent's node
	// name), "role" (primary or backup, when the node has one), "severity"
	// and the rule's own labels. The same rule on two nodes differs only
	// in node and role.
	Labels map[string]string
	// StartsAt is when the rule began to fire.
	StartsAt time.Time
	// EndsAt is when a resolved alert stopped firing; zero while it fires.
	EndsAt time.Time
	// Refresh is true when the agent sends the message again to keep a
	// firing alert alive (see [AlertRefresher]), not as a notification of
	// its own.
	Refresh bool
}

// AlertRefresher is implemented by a transport that needs each firing
// alert sent again while it fires, as Alertmanager does: it resolves an
// alert whose endsAt passed without news. The SDK asks it after each
// Configure that returned no error diagnostics. With an interval above
// 0, the agent sends the last message of each firing alert this transport
// delivered again at that interval, with Alert.Refresh set, until the rule
// resolves or stops firing; a failed refresh is logged and tried at the
// next interval, never retried through the outbox or another transport.
// 0, or an error, means no refresh.
//
// On the agent's side, the Transport the SDK's client returns implements
// it too, returning what the plugin said with its last Configure.
type AlertRefresher interface {
	AlertRefreshInterval(ctx context.Context) (time.Duration, error)
}

// alertToProto is a on the wire; nil stays nil.
func alertToProto(a *Alert) *pb.Alert {
	if a == nil {
		return nil
	}
	out := &pb.Alert{Name: a.Name, State: string(a.State), Labels: maps.Clone(a.Labels), Refresh: a.Refresh}
	if !a.StartsAt.IsZero() {
		out.StartsAtUnixNano = a.StartsAt.UnixNano()
	}
	if !a.EndsAt.IsZero() {
		out.EndsAtUnixNano = a.EndsAt.UnixNano()
	}
	return out
}

// alertFromProto is p from the wire; nil (not set) stays nil.
func alertFromProto(p *pb.Alert) *Alert {
	if p == nil {
		return nil
	}
	a := &Alert{Name: p.GetName(), State: AlertState(p.GetState()), Labels: p.GetLabels(), Refresh: p.GetRefresh()}
	if n := p.GetStartsAtUnixNano(); n != 0 {
		a.StartsAt = time.Unix(0, n).UTC()
	}
	if n := p.GetEndsAtUnixNano(); n != 0 {
		a.EndsAt = time.Unix(0, n).UTC()
	}
	return a
}

// AlertRefreshInterval returns what the plugin said with its last
// Configure: how often to send firing alerts again, 0 for never.
func (c *grpcClient) AlertRefreshInterval(context.Context) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh, nil
}

// refreshInterval asks impl how often its firing alerts are to be sent
// again, when it tells, in milliseconds for the wire.
func (s *grpcServer) refreshInterval(ctx context.Context, diags Diagnostics) int64 {
	r, ok := s.impl.(AlertRefresher)
	if !ok || diags.HasErrors() {
		return 0
	}
	d, err := r.AlertRefreshInterval(ctx)
	if err != nil {
		s.logger.Warn("the transport cannot say how often to refresh its alerts", "error", err)
		return 0
	}
	return max(d.Milliseconds(), 0)
}

// maxRefreshMs bounds the refresh interval a plugin can ask for: a day,
// far above any alerting system's resolve timeout.
const maxRefreshMs = int64(24 * time.Hour / time.Millisecond)
