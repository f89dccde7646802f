package config

import (
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// AgentVars are the values of the variable agent that rules read; the
// agent and `tocsin rules test` both build it with Value.
type AgentVars struct {
	// Node is the agent's node name, Version its release.
	Node, Version string
	// Started is when the agent started.
	Started time.Time
	// Stopping is true in the one evaluation of every rule that the
	// agent makes when it stops.
	Stopping bool
	// Failing maps each rule whose last evaluation failed to its error.
	Failing map[string]string
	// Role is what the agent remembers of this node's role.
	Role rules.RoleMemory
}

// Value returns the variable agent: node, version, started (RFC 3339),
// stopping, failing_rules, and the role memory: role, role_since and
// previous_role.
func (a AgentVars) Value() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"node":          cty.StringVal(a.Node),
		"version":       cty.StringVal(a.Version),
		"started":       cty.StringVal(a.Started.UTC().Format(time.RFC3339)),
		"stopping":      cty.BoolVal(a.Stopping),
		"failing_rules": FailingRulesValue(a.Failing),
		"role":          a.Role.RoleValue(),
		"previous_role": a.Role.PreviousValue(),
		"role_since":    a.Role.SinceValue(),
	})
}

// FailingRulesValue is agent.failing_rules: each rule whose last
// evaluation failed, by name, with its error.
func FailingRulesValue(errs map[string]string) cty.Value {
	if len(errs) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	m := make(map[string]cty.Value, len(errs))
	for name, err := range errs {
		m[name] = cty.StringVal(err)
	}
	return cty.MapVal(m)
}
