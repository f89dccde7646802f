// Package agent is the wiring and the lifecycle of a running Tocsin
// agent, and nothing else: [Start] builds one from a loaded configuration
// (the transport plugins, the outbox, the dispatcher, the rule runner and
// the API server), [Agent.Reload] swaps what a new configuration changes
// and keeps what it does not, and [Agent.Stop] stops everything in order:
// the rules' last evaluation and its mail, the dispatcher's drain, the
// outbox, the API, the plugins. The work itself lives in the packages the agent connects.
//
// A notification goes through them like this:
//
//   - core/engine runs the checks (core/facts) and, on each rule's
//     schedule, evaluates the rules (core/rules) over a rules.Vars: node,
//     check, peer, agent and the outbox variable that core/channelwatch
//     keeps from delivery outcomes;
//   - a rule that fires, repeats or resolves becomes a rules.Notification;
//     the engine renders it into one outbox.Entry per contact
//     (notify.ForContact: Message-ID, recipients, via list) and hands the
//     entries to the agent, which stores them in core/outbox in the same
//     transaction as the rule's new state (the hand-off mark);
//   - core/delivery takes the due entries, builds each transport's
//     sdk.Message (notify.Message, with the transport's From address) and
//     sends it through core/pluginhost to the plugin process; it retries,
//     falls back along the contact's via list and throttles, and tells the
//     observers (core/channelwatch, core/metrics, the log) each outcome;
//   - the outbox API (core/outboxapi) lets an operator list, retry and
//     drop what is still there.
//
// Dev mode's startup mail and any other notice enter the same way, through
// [Agent.Enqueue]; there is no second delivery path.
//
// A transport's test mail (its block's test_to) enters the outbox the
// same way, with that transport alone in its via list: testmail.go sends
// one at the start, at each reload and when a failed transport comes up,
// whenever the HMAC of the transport's effective settings differs from
// the one recorded in data_dir when its last test mail was delivered.
package agent
