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

// alertOf maps a mail-shaped message to one alert, from what a message
// carries: label alertname is the rule (the X-Tocsin-Rule header, or the
// subject for a message no rule sent) and label severity the
// X-Tocsin-Severity header when set; annotations summary (the subject),
// description (the text) and message_id (the message's ID, to find it in
// `tocsin outbox`); startsAt is the message's date, and endsAt endsAfter
// from now, or now for a resolve event (X-Tocsin-Event), which resolves
// the alert. The plugin protocol's extension for this transport hands over
// the rule's labels, start, end and state, and replaces this mapping.
func alertOf(m *sdk.Message, now time.Time, endsAfter time.Duration) amclient.Alert {
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
