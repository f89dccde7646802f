package rules

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// The variables a rule's expressions read, by where they are read.
var (
	// NodeRoots are the variables a node field reads.
	NodeRoots = []string{"check", "peer"}
	// ConditionRoots are the variables a condition (when, on_resolve)
	// reads.
	ConditionRoots = []string{"node", "check", "peer", "agent", "outbox", "credential"}
	// TemplateRoots are the variables a template (subject, text, html,
	// attach) reads: those of a condition, and rule.
	TemplateRoots = []string{"node", "check", "peer", "agent", "outbox", "credential", "rule"}
)

// NodeFields are the arguments of the node block: this node's own facts,
// which rules read as node.NAME and peers read from /v1/status. Each is an
// expression evaluated at every tick, so it may read checks.
var NodeFields = []string{"name", "role", "version", "shared_ips", "test_ips", "auto_failover", "last_sync"}

// AgentType is the type of the variable agent (see [AgentVars]).
var AgentType = cty.Object(map[string]cty.Type{
	"node": cty.String, "version": cty.String, "started": cty.String, "stopping": cty.Bool,
	"failing_rules": cty.Map(cty.String),
	"role":          cty.String, "previous_role": cty.String, "role_since": cty.String,
	"silences": cty.List(SilenceType),
})

// RuleType is the type of the variable rule that templates read: the
// rule's name, severity, state ("firing", "resolved" or "flapping") and
// since (RFC 3339, or null).
var RuleType = cty.Object(map[string]cty.Type{"name": cty.String, "severity": cty.String, "state": cty.String, "since": cty.String})

// OutboxStreakType is the type of each element of outbox.failing: one
// transport's current failure streak.
var OutboxStreakType = cty.Object(map[string]cty.Type{
	"failures":    cty.Number,
	"failing_for": cty.Number,
	"last_error":  cty.String,
})

// OutboxTestType is the type of each element of outbox.tests: the test
// mail of one transport with test_to (see [TransportTest]).
var OutboxTestType = cty.Object(map[string]cty.Type{
	"ok":       cty.Bool,
	"state":    cty.String,
	"error":    cty.String,
	"at":       cty.String,
	"reason":   cty.String,
	"attempts": cty.Number,
})

// OutboxType is the type of the variable outbox that rules read: the
// agent's outbox and the health of its alerting channel. Durations are
// whole seconds, the unit of duration() and age().
var OutboxType = cty.Object(map[string]cty.Type{
	"pending":     cty.Number,
	"dead":        cty.Number,
	"oldest_age":  cty.Number,
	"failing_for": cty.Number,
	"failing":     cty.Map(OutboxStreakType),
	// The outbox's own health: storing notifications (a full disk).
	"store_failures":    cty.Number,
	"store_failing_for": cty.Number,
	"store_error":       cty.String,
	// The test mails of the transports with test_to, by transport.
	"tests": cty.Map(OutboxTestType),
})

// Vars are the variables a rule reads at one evaluation: node, check,
// peer, agent, outbox and credential (templates also read rule, which [Evaluate]
// adds). The agent's rule runner builds them at each tick from its checks,
// `tocsin rules test` from a test's timeline; [VarTypes] gives their types
// for validation. Nothing else builds these values.
type Vars struct {
	// Node is this node's facts, by field (see [EvalNode]).
	Node map[string]cty.Value
	// Check and Peer are the objects check and peer, as [FactsObject] or
	// [FactObjects] build them; the zero Value is an empty object.
	Check, Peer cty.Value
	// Agent is the variable agent.
	Agent AgentVars
	// Outbox is the variable outbox; nil leaves it out, for rules that do
	// not read it (counting the outbox is a scan of its index).
	Outbox *OutboxFact
	// Credential is the variable credential (see [CredentialsValue]);
	// the zero Value is an empty map.
	Credential cty.Value
}

// Values returns the variables by name.
func (v Vars) Values() map[string]cty.Value {
	m := map[string]cty.Value{
		"node":  objectOrEmpty(v.Node),
		"check": valueOrEmpty(v.Check),
		"peer":  valueOrEmpty(v.Peer),
		"agent": v.Agent.Value(),
	}
	if v.Outbox != nil {
		m["outbox"] = v.Outbox.Value()
	}
	m["credential"] = v.Credential
	if v.Credential == cty.NilVal {
		m["credential"] = cty.MapValEmpty(CredentialType)
	}
	return m
}

// EvalContext returns the context rules are evaluated in: the variables
// and fns (see [Functions]).
func (v Vars) EvalContext(fns map[string]function.Function) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: v.Values(), Functions: fns}
}

// EvalNode evaluates the node block's expressions fields over the
// variables check and peer of v (the node facts read nothing else) into
// node facts. A field that fails to evaluate is null and its error is
// returned, joined with the others; the other fields are kept.
func (v Vars) EvalNode(fields map[string]hcl.Expression, fns map[string]function.Function) (map[string]cty.Value, error) {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"check": valueOrEmpty(v.Check), "peer": valueOrEmpty(v.Peer)},
		Functions: fns,
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]cty.Value, len(fields))
	var errs []error
	for _, n := range names {
		val, diags := fields[n].Value(ctx)
		if diags.HasErrors() {
			errs = append(errs, fmt.Errorf("node.%s: %w", n, diagsError(diags, fields[n].Range())))
			out[n] = cty.NullVal(cty.DynamicPseudoType)
			continue
		}
		out[n] = val
	}
	return out, errors.Join(errs...)
}

func valueOrEmpty(v cty.Value) cty.Value {
	if v == cty.NilVal {
		return cty.EmptyObjectVal
	}
	return v
}

// FactsObject returns the object of the facts m by name: the variable
// check (or peer) built afresh.
func FactsObject(m map[string]facts.Fact) cty.Value {
	attrs := make(map[string]cty.Value, len(m))
	for name, f := range m {
		attrs[name] = f.Object()
	}
	return objectOrEmpty(attrs)
}

func objectOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// VarTypes are the shapes of the variables a configuration declares: its
// checks by kind and its peers. Check and peer types are those of
// [facts.ObjectType].
type VarTypes struct {
	Checks map[string]facts.Kind
	Peers  map[string]bool
}

// EvalContext returns a context of unknown values of the types the
// variables will have, and [Functions]: an expression evaluated in it
// reports type errors without a check having run.
func (t VarTypes) EvalContext() *hcl.EvalContext {
	checkAttrs := map[string]cty.Value{}
	for name, k := range t.Checks {
		checkAttrs[name] = cty.UnknownVal(facts.ObjectType(k))
	}
	peerAttrs := map[string]cty.Value{}
	for name := range t.Peers {
		peerAttrs[name] = cty.UnknownVal(facts.ObjectType(facts.KindPeer))
	}
	nodeAttrs := map[string]cty.Value{}
	for _, n := range NodeFields {
		nodeAttrs[n] = cty.DynamicVal
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"check":      objectOrEmpty(checkAttrs),
			"peer":       objectOrEmpty(peerAttrs),
			"node":       cty.ObjectVal(nodeAttrs),
			"agent":      unknownAttrs(AgentType),
			"outbox":     cty.UnknownVal(OutboxType),
			"credential": cty.UnknownVal(CredentialsType),
		},
		Functions: Functions(time.Now),
	}
}

// unknownAttrs is an object of ty whose attributes are unknown.
func unknownAttrs(ty cty.Type) cty.Value {
	attrs := map[string]cty.Value{}
	for n, t := range ty.AttributeTypes() {
		attrs[n] = cty.UnknownVal(t)
	}
	return cty.ObjectVal(attrs)
}

// AgentVars are the values of the variable agent.
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
	Role RoleMemory
	// Silences are the silences in force (agent.silences).
	Silences []SilenceVar
}

// Value returns the variable agent, of [AgentType]: node, version,
// started (RFC 3339), stopping, failing_rules, and the role memory: role,
// role_since and previous_role, and silences.
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
		"silences":      SilencesValue(a.Silences),
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

// OutboxFact is what the variable outbox holds: the agent builds it from
// its outbox and its dispatcher's outcomes, `tocsin rules test` from a
// test's timeline. Value turns it into a value of [OutboxType].
type OutboxFact struct {
	// Pending and Dead count the outbox's entries in each state.
	Pending, Dead int
	// OldestAge is how long the oldest pending entry has waited; zero
	// when none is pending.
	OldestAge time.Duration
	// Failing holds the transports whose last attempts failed, by name.
	Failing map[string]TransportStreak
	// StoreFailures counts the notifications that could not be written
	// to the outbox since the last write that succeeded (a full or
	// failing disk); StoreFailingFor is how long ago the first of them
	// failed, StoreError the last error. All zero while storing works.
	StoreFailures   int
	StoreFailingFor time.Duration
	StoreError      string
	// Tests holds the test mail of each transport with test_to, by name.
	Tests map[string]TransportTest
}

// The states of a transport's test mail (TransportTest.State).
const (
	// TestPassed: the transport delivered a test mail with its current
	// settings.
	TestPassed = "passed"
	// TestPending: a test mail of its current settings waits for its
	// first attempt.
	TestPending = "pending"
	// TestFailed: an attempt of the test mail failed; it is retried while
	// the failure is temporary, and a test mail is sent again at the next
	// start or reload once it is dead.
	TestFailed = "failed"
)

// TransportTest is the test mail of one transport with test_to.
type TransportTest struct {
	// State is TestPassed, TestPending or TestFailed; OK is State ==
	// TestPassed.
	State string
	// Error is the last failed attempt's error as the transport
	// classified it, with its remedy; empty unless State is TestFailed.
	Error string
	// At is when State began: the test passed, was enqueued, or last
	// failed.
	At time.Time
	// Reason is why the test mail was sent: "first test", "settings
	// changed", "last test failed".
	Reason string
	// Attempts counts the failed attempts of the current test mail.
	Attempts int
}

// Value returns t as a value of [OutboxTestType]; at is RFC 3339, or ""
// when unknown.
func (t TransportTest) Value() cty.Value {
	at := ""
	if !t.At.IsZero() {
		at = t.At.UTC().Format(time.RFC3339)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"ok":       cty.BoolVal(t.State == TestPassed),
		"state":    cty.StringVal(t.State),
		"error":    cty.StringVal(t.Error),
		"at":       cty.StringVal(at),
		"reason":   cty.StringVal(t.Reason),
		"attempts": cty.NumberIntVal(int64(max(t.Attempts, 0))),
	})
}

// TransportStreak is a transport's current run of failed attempts.
type TransportStreak struct {
	// Failures counts the failed attempts since the last success.
	Failures int
	// FailingFor is how long ago the first of them failed.
	FailingFor time.Duration
	// LastError is the last failure's error, as the dispatcher logs it.
	LastError string
}

// FailingFor returns the longest current streak of Failing, zero when no
// transport fails: outbox.failing_for.
func (f OutboxFact) FailingFor() time.Duration {
	var longest time.Duration
	for _, s := range f.Failing {
		longest = max(longest, s.FailingFor)
	}
	return longest
}

// Value returns f as a value of OutboxType.
func (f OutboxFact) Value() cty.Value {
	failing := cty.MapValEmpty(OutboxStreakType)
	if len(f.Failing) > 0 {
		m := make(map[string]cty.Value, len(f.Failing))
		for name, s := range f.Failing {
			m[name] = cty.ObjectVal(map[string]cty.Value{
				"failures":    cty.NumberIntVal(int64(max(s.Failures, 0))),
				"failing_for": seconds(s.FailingFor),
				"last_error":  cty.StringVal(s.LastError),
			})
		}
		failing = cty.MapVal(m)
	}
	tests := cty.MapValEmpty(OutboxTestType)
	if len(f.Tests) > 0 {
		m := make(map[string]cty.Value, len(f.Tests))
		for name, t := range f.Tests {
			m[name] = t.Value()
		}
		tests = cty.MapVal(m)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"pending":     cty.NumberIntVal(int64(max(f.Pending, 0))),
		"dead":        cty.NumberIntVal(int64(max(f.Dead, 0))),
		"oldest_age":  seconds(f.OldestAge),
		"failing_for": seconds(f.FailingFor()),
		"failing":     failing,

		"store_failures":    cty.NumberIntVal(int64(max(f.StoreFailures, 0))),
		"store_failing_for": seconds(f.StoreFailingFor),
		"store_error":       cty.StringVal(f.StoreError),

		"tests": tests,
	})
}

// seconds is d in whole seconds, never negative.
func seconds(d time.Duration) cty.Value {
	return cty.NumberIntVal(int64(max(d, 0) / time.Second))
}
