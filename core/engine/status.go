package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// RuleStatus is a rule's line in /v1/status.
type RuleStatus struct {
	Name         string    `json:"name"`
	Severity     string    `json:"severity"`
	Schedule     string    `json:"schedule"`
	Phase        string    `json:"phase"`
	Since        time.Time `json:"since,omitzero"`
	FiredAt      time.Time `json:"fired_at,omitzero"`
	LastNotified time.Time `json:"last_notified,omitzero"`
	// FlappingSince is when the rule began to flap; absent when it does
	// not flap.
	FlappingSince time.Time `json:"flapping_since,omitzero"`
	Error         string    `json:"error,omitempty"`
	LastEval      time.Time `json:"last_eval,omitzero"`
	LastEvents    []string  `json:"last_events,omitempty"`
}

// CheckStatus is a check's or peer's line in /v1/status: whether it
// passed, never what it read (a file or a command's output may hold
// secrets).
type CheckStatus struct {
	Kind     string    `json:"kind"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Latency  float64   `json:"latency_seconds"`
	Observed time.Time `json:"observed"`
}

// DeliveryFailures returns how many evaluations could not hand over
// their notifications.
func (e *Runner) DeliveryFailures() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// NodeAndChecks returns the node and the checks for /v1/status.
func (e *Runner) NodeAndChecks() (facts.NodeStatus, map[string]CheckStatus) {
	snap := e.runner.Snapshot()
	_, node := e.factsOf(snap, false) // fresh node facts, also where no rule reads them
	checks := make(map[string]CheckStatus, len(snap))
	for name, f := range snap {
		checks[name] = CheckStatus{Kind: string(f.Kind), OK: f.OK, Error: f.Error, Latency: f.Latency.Seconds(), Observed: f.Observed}
	}
	return nodeStatus(e.cfg.Agent.Node, node), checks
}

// Firing reports whether the rule named name exists and fires.
func (e *Runner) Firing(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := slices.BinarySearchFunc(e.byName, name, func(r *rules.Rule, n string) int { return strings.Compare(r.Name, n) }); !ok {
		return false
	}
	return e.states[name].Phase == rules.Firing
}

// RuleStatuses returns the rules' lines of /v1/status, by name.
func (e *Runner) RuleStatuses() []RuleStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ruleStatusesLocked()
}

// ruleStatusesLocked returns the rules' lines of /v1/status, by name.
// e.mu must be held.
func (e *Runner) ruleStatusesLocked() []RuleStatus {
	out := make([]RuleStatus, 0, len(e.byName))
	for _, r := range e.byName {
		st := e.states[r.Name]
		rec := e.lastEval[r.Name]
		out = append(out, RuleStatus{
			Name: r.Name, Severity: r.Severity, Schedule: r.Schedule, Phase: st.Phase.String(),
			Since: st.ActiveSince, FiredAt: st.FiredAt, LastNotified: st.LastNotified, FlappingSince: st.FlappingSince,
			Error: st.Err, LastEval: rec.At, LastEvents: rec.Events,
		})
	}
	return out
}

// RulesStatusJSON returns the rules' lines of /v1/status as encode
// encodes them, encoding them again only when a tick or a reconcile
// changed them since the last request (encode must always be the same
// function: its last result is kept).
func (e *Runner) RulesStatusJSON(encode func([]RuleStatus) []byte) []byte {
	e.mu.Lock()
	if e.rulesJSON != nil && e.rulesGen == e.gen {
		b := e.rulesJSON
		e.mu.Unlock()
		return b
	}
	gen := e.gen
	rs := e.ruleStatusesLocked()
	e.mu.Unlock()
	b := encode(rs)
	e.mu.Lock()
	if e.gen == gen {
		e.rulesJSON, e.rulesGen = b, gen
	}
	e.mu.Unlock()
	return b
}

// nodeStatus converts node facts to the shape peers read.
func nodeStatus(name string, node map[string]cty.Value) facts.NodeStatus {
	ns := facts.NodeStatus{Name: name}
	str := func(k string) string {
		v, ok := node[k]
		if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			return ""
		}
		return v.AsString()
	}
	// Lists are never null in the JSON: an absent or unusable field is
	// the empty list, as the rule library's README promises.
	list := func(k string) []string {
		out := []string{}
		v, ok := node[k]
		if !ok || v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
			return out
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if !e.IsNull() && e.Type() == cty.String {
				out = append(out, e.AsString())
			}
		}
		return out
	}
	if s := str("name"); s != "" {
		ns.Name = s
	}
	ns.Role, ns.Version = str("role"), str("version")
	ns.SharedIPs, ns.TestIPs = list("shared_ips"), list("test_ips")
	if v, ok := node["auto_failover"]; ok && v.IsKnown() && !v.IsNull() && v.Type() == cty.Bool {
		ns.AutoFailover = v.True()
	}
	if s := str("last_sync"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			ns.LastSync = &t
		}
	}
	return ns
}

// Renotice records the latest fact of peer again with the stop notice
// that just came for it (see facts.Runner.Renotice), so that the rules
// read it now rather than at the peer's next run. It reports whether the
// peer had a fact.
func (e *Runner) Renotice(peer string) bool {
	if !e.peerName[peer] {
		return false
	}
	return e.runner.Renotice(peer)
}

// Snapshot returns the latest fact of every check and peer that has run,
// by name; the map and the facts' values are copies.
func (e *Runner) Snapshot() map[string]facts.Fact { return e.runner.Snapshot() }
