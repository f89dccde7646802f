package engine

import (
	"maps"

	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// alertOf is the alert notification n is about, as a transport that hands
// alerts to an alerting system sees it (sdk.Alert): the rule's name; its
// labels: the rule's own, then node (this agent's node name), role (this
// node's role, when the node has one) and severity, which the rule's own
// cannot set (config.AlertLabels); firing from when its condition began to
// hold, or resolved at the evaluation that saw it end. A flapping rule's
// alert fires.
func alertOf(n rules.Notification, node, role string) *sdk.Alert {
	labels := make(map[string]string, len(n.Labels)+3)
	maps.Copy(labels, n.Labels)
	labels["node"] = node
	if role != "" {
		labels["role"] = role
	}
	if n.Severity != "" {
		labels["severity"] = n.Severity
	}
	a := &sdk.Alert{Name: n.Rule, State: sdk.AlertFiring, Labels: labels, StartsAt: n.Since}
	if a.StartsAt.IsZero() {
		a.StartsAt = n.At
	}
	if n.Event == rules.EventResolve {
		a.State, a.EndsAt = sdk.AlertResolved, n.At
	}
	return a
}
