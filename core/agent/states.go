package agent

import (
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/metrics"
)

// ruleStates is each rule's phase, for tocsin_rule_state; none before
// the engine runs.
func (a *Agent) ruleStates() []metrics.RuleState {
	e := a.current().engine
	if e == nil {
		return nil
	}
	st := e.RuleStatuses()
	out := make([]metrics.RuleState, len(st))
	for i, r := range st {
		out[i] = metrics.RuleState{Name: r.Name, Severity: r.Severity, Phase: r.Phase}
	}
	return out
}

// checkStates is each check's and peer's last run, for tocsin_check_up,
// tocsin_check_duration_seconds and tocsin_peer_up.
func (a *Agent) checkStates() []metrics.CheckState {
	e := a.current().engine
	if e == nil {
		return nil
	}
	snap := e.Snapshot()
	out := make([]metrics.CheckState, 0, len(snap))
	for name, f := range snap {
		out = append(out, metrics.CheckState{Name: name, Kind: string(f.Kind), Peer: f.Kind == facts.KindPeer, Up: f.OK, Duration: f.Latency})
	}
	return out
}
