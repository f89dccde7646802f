// Package engine runs the rules: a [Runner] runs the checks and peers of
// a configuration, evaluates the rules on their schedules over the facts
// they observe, keeps the rules' alert state in the state file
// ([StateFile] under data_dir) and hands their notifications to the
// outbox, through an [Enqueuer] its owner gives it.
//
// What a rule reads at a tick is a [rules.Vars]: node, check and peer
// from the checks, agent from the runner (its start, the stop, the rules
// that fail, the role it remembers), and outbox from [Options.Outbox],
// which the agent wires to its delivery observer. The runner also serves
// the rules', checks' and node's lines of /v1/status ([Runner.RuleStatuses],
// [Runner.NodeAndChecks]).
//
// Besides their schedules, rules are evaluated on change: when a check's
// or peer's fact changes (facts.Fact.Same), the rules whose condition
// reads a value of it that differs (facts.Fact.Diff), directly or through
// a node field, are evaluated at once, as one tick of their own through
// the same code as a schedule's (see onchange.go). Changes that come
// together make one such tick. A rule is never
// evaluated twice at once: a schedule's tick and an evaluation on change
// take the lock of the rule's tick group.
//
// The agent makes one Runner per configuration: New, Start, then Stop at
// shutdown (one last evaluation with agent.stopping) or Close at a reload
// (none); the state file has one owner at a time.
package engine
