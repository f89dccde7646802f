// Package outbox is Tocsin's durable queue of notifications: every mail a
// rule fires is written here, and synced to disk, before the rule's state
// records it as sent, and it leaves the outbox only when a transport has
// accepted it. An agent killed at any moment finds on restart every entry
// whose Enqueue had returned.
//
// The outbox is one bbolt file (data_dir/outbox.db) with four buckets:
//
//	meta     format version
//	entries  entry ID -> the entry's record as JSON (record.go)
//	due      (NextAttempt, ID) -> nothing, for pending entries: Due reads
//	         it in order and stops at the first entry not yet due
//	states   (State, EnqueuedAt, ID) -> nothing, for every entry: List
//	         and Stats read it instead of decoding every entry
//
// Every write is one synced transaction. Writers from many goroutines are
// group-committed: what arrives while one transaction is being synced goes
// into the next one, so a burst of small Enqueue calls costs a few fsyncs,
// not one each, and a lone caller never waits for a batch timer.
//
// A file that is damaged (garbage, truncated, a record that does not
// decode) is refused by Open, never replaced by an empty queue; Recover
// moves it aside and keeps every entry that can still be read.
package outbox
