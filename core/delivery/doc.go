// Package delivery sends what the outbox holds: it retries, falls back to
// the next transport of a contact's via list and throttles, the stage
// Alertmanager calls "retry" and our configuration calls the delivery block.
//
// A [Dispatcher] runs one loop that sleeps until the next entry is due (or
// until [Dispatcher.Kick] says new ones were enqueued), picks the due
// entries and hands each to a lane: one per transport, with up to
// Policy.Concurrency Sends in flight at once over all lanes. A lane sends
// a batch (Policy.BatchSize messages) through transports that take
// several per Send, up to Policy.SendsPerTransport batches at once (the
// plugin spreads them over its connections; a lane's second Send takes a
// slot only while another stays free for the other lanes), and one
// message per Send, one at a time, otherwise. It classifies each result
// with the SDK's error type:
//
//   - success: the entry is done and leaves the outbox (one Done per batch);
//   - temporary: the entry is tried again after an exponential backoff with
//     jitter, but not before the provider's Retry-After; a provider that
//     asks to wait pauses its whole transport until then;
//   - permanent, or temporary for longer than Policy.MaxAge on the same
//     transport: the entry moves at once to the next transport of its
//     contact's chain, and when the chain is exhausted it becomes a dead
//     letter, kept in the outbox for the operator.
//
// A batch is bounded by bytes as well as by count, when Transports says
// how many a transport takes per Send ([ByteLimits]): a lane never sends
// more (always at least one message), and a single message over the
// budget fails permanently on that transport, with a remedy that names its
// size and the limit, so the next transport of the chain may take it.
//
// Every Send has a deadline ([SendTimeouts], DefaultSendTimeout by
// default). A Send that has not answered by then is cancelled and counts
// as a temporary failure (ErrSendTimeout), under the usual retry and
// fallback rules. A Send that ignores the cancellation is left behind
// after a short grace, so the lane goes on; a transport with too many
// calls left behind is not called again until one returns, and its
// attempts fail at once meanwhile.
//
// An entry that failed because the whole Send failed waits on its
// transport; when that transport accepts a message again, the entries
// waiting on it are made due at once ([Getter]): the transport is healthy,
// and their backoff no longer applies. This counts no attempt and skips
// neither the Rate nor a Retry-After pause.
//
// What is kept of a failed attempt (code, reply, error, remedy), in the
// outbox and in what the Observer is given, is cut to MaxCodeBytes,
// MaxReplyBytes, MaxErrorBytes and MaxRemedyBytes, with a marker saying
// so, whatever a plugin sends back.
//
// A transport may have a [Rate]: a token bucket spaces its sends, and the
// entries that wait for it stay in the outbox as they are (no attempt is
// counted, nothing is rewritten) until the loop wakes when the next one
// may go. A Retry-After pause comes on top of it.
//
// Entries being stored can be handed to the dispatcher directly
// ([Dispatcher.Claim]): reserved before the store, queued in their lanes
// once it has synced them, never sent before. While they are stored, a
// [Warmer] can get their transports ready ([Dispatcher.Warm]: a plugin
// connects and logs in), which sends nothing.
//
// The outbox is the only state that matters: an entry is taken from it
// only after a transport accepted it, and every change of an entry is
// saved before the entry can be picked again, so a store error delays an
// entry but never loses it or advances it twice. A graceful stop takes no
// new work and lets the sends in flight finish, up to a deadline; a send
// cut short by the deadline leaves its entries as they were, to be sent
// again on the next start.
package delivery
