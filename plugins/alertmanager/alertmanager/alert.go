package alertmanager

import (
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The headers the agent sets on a rule's notification, and the event that
// ends an alert.
const (
	headerRule     = "X-Tocsin-Rule"
	headerEvent    = "X-Tocsin-Event"
	headerSeverity = "X-Tocsin-Severity"
	eventResolve   = "resolve"
)

// alertOf maps a message to one alert. A rule's notification carries its
// alert (sdk.Message.Alert): label alertname is the rule, the other labels
// are the alert's (node, role, severity and the rule's own); annotations
// summary (the subject), description (the text), state, since (when the
// rule began to fire, RFC 3339) and message_id (to find it in `tocsin
// outbox`); startsAt is the alert's start, and endsAt endsAfter from now
// while it fires, or when it resolved. A message without an alert (mail
// about no rule, or from an agent built before alerts travelled) is mapped
// from its headers: alertname the X-Tocsin-Rule header or the subject,
// severity the X-Tocsin-Severity header, resolved by X-Tocsin-Event
// "resolve".
func alertOf(m *sdk.Message, now time.Time, endsAfter time.Duration) amclient.Alert {
	if m.Alert == nil {
		return alertFromHeaders(m, now, endsAfter)
	}
	labels := make(map[string]string, len(m.Alert.Labels)+1)
	for k, v := range m.Alert.Labels {
		labels[k] = v
	}
	labels["alertname"] = m.Alert.Name
	a := amclient.Alert{
		Labels: labels,
		Annotations: map[string]string{
			"summary": m.Subject, "description": m.Text, "message_id": m.ID,
			"state": string(m.Alert.State),
		},
		StartsAt: m.Alert.StartsAt,
		EndsAt:   now.Add(endsAfter),
	}
	if !a.StartsAt.IsZero() {
		a.Annotations["since"] = a.StartsAt.UTC().Format(time.RFC3339)
	}
	if a.StartsAt.IsZero() || a.StartsAt.After(now) {
		a.StartsAt = now
	}
	if m.Alert.State == sdk.AlertResolved {
		a.EndsAt = m.Alert.EndsAt
		if a.EndsAt.IsZero() || a.EndsAt.After(now) {
			a.EndsAt = now
		}
		if a.EndsAt.Before(a.StartsAt) {
			a.StartsAt = a.EndsAt
		}
	}
	return a
}

// alertFromHeaders maps a message without an alert from its headers.
func alertFromHeaders(m *sdk.Message, now time.Time, endsAfter time.Duration) amclient.Alert {
	header := func(name string) string {
		for _, h := range m.Headers {
			if strings.EqualFold(h.Name, name) {
				return strings.TrimSpace(h.Value)
			}
		}
		return ""
	}
	a := amclient.Alert{
		Labels:      map[string]string{"alertname": header(headerRule)},
		Annotations: map[string]string{"summary": m.Subject, "description": m.Text, "message_id": m.ID},
		StartsAt:    m.Date,
		EndsAt:      now.Add(endsAfter),
	}
	if a.Labels["alertname"] == "" {
		a.Labels["alertname"] = m.Subject
	}
	if sev := header(headerSeverity); sev != "" {
		a.Labels["severity"] = sev
	}
	if a.StartsAt.IsZero() || a.StartsAt.After(now) {
		a.StartsAt = now
	}
	if header(headerEvent) == eventResolve {
		// Alertmanager keeps the start of the alert it has; with none
		// given, it starts this one where it ends.
		a.StartsAt, a.EndsAt = time.Time{}, now
	}
	return a
}
