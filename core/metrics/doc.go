// Package metrics exposes what the agent does in the Prometheus text
// format, at /metrics: notifications enqueued, sent, retried, moved to the
// next transport and dead-lettered, per transport and contact; the send
// latency per transport; the outbox's depth and oldest entry; rule
// evaluations and errors; plugin starts; stored token rotations; and the
// Go runtime and process metrics.
//
// A Metrics keeps its collectors in a registry of its own, never in
// client_golang's global one, so two agents in one test process do not
// share counters. Label values are names from the configuration (rules,
// contacts, transports), never message IDs, addresses or error texts, so
// the number of series is bounded by the configuration.
//
// The outbox gauges and the plugin start counts are read when Prometheus
// scrapes, from functions the agent hands over (Outbox, PluginStarts);
// everything else is counted as it happens. The dispatcher's events reach
// the counters through Observer, which wraps the agent's own observer.
//
// A nil *Metrics records nothing, so an agent without metrics can call it
// unconditionally.
package metrics
