// Package channelwatch watches the agent's alerting channel: a
// delivery.Observer in front of the agent's own that keeps each
// transport's current run of failed attempts, and the run of
// notifications that could not be stored in the outbox (a full disk).
// From them and the outbox's counts it builds the variable outbox that
// rules read (rules.OutboxFact: the rule runner asks for it once per tick
// whose rules read it), and the agent reports them in /healthz and
// /v1/status.
//
// It is its own package, not part of the rule runner, because it hangs
// off delivery: the runner only reads its Fact, and the agent, which
// owns both the dispatcher and the runner, wires the two.
package channelwatch
