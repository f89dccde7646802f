// Package facts runs the checks that observe a node and its surroundings
// and turns what they see into facts that rules can test.
//
// A check is a named Spec of one Kind (tcp, dns, http, ping, interface,
// file, command, cert, peer) that runs on its own interval (Every) and is
// bounded by its Timeout. Each run produces a Fact: whether the check
// succeeded, why not, how long it took, when, and kind-specific Values. A
// failing check is a fact with OK false and an Error, never a crash: Run
// turns errors, timeouts and panics alike into failed facts.
//
// Run runs a check once. A Runner runs many: each check at once and then
// every Every, concurrently with the others, never overlapping itself. It
// keeps the latest fact of each (Snapshot), tells when every check has run
// once (Ready), hands out new facts as they come (Subscribe) and says
// which checks' facts changed (Changed, TakeChanged): a fact changes when
// what rules read of it differs from the check's previous fact, leaving
// aside what differs at every run (latency, observed, a file's age, a
// ping's rtt; see Fact.Same).
//
// # Kinds
//
// Each kind is a CheckKind that its own file registers from an init
// function: its name, the arguments of a config check block (Args), the
// names and types of its values, and how it validates, defaults and runs
// its settings. Spec, Run, ObjectType and the config package read kinds
// from that registry (Lookup, Kinds), so a new kind is one new file and
// its test (cert.go is one). The built-in kinds keep their settings in a
// field of Spec (Spec.TCP, ...); a kind added later keeps them in
// Spec.Options.
//
// # Values
//
// Rules read a fact as check.NAME.FIELD. Fact.Object gives every fact ok
// (bool), error (string, empty when ok), latency (number, seconds) and
// observed (string, RFC 3339), and the kind's values below. Every value of
// a kind is present in every fact of that kind; one that was not observed
// (the status of a request that got no answer) is null. Durations are
// numbers of seconds, times RFC 3339 strings in UTC; "json" is whatever the
// JSON holds (objects, tuples, strings, numbers, bools), or null.
//
//	tcp        address (string)
//	dns        name (string), addresses (list of string, sorted, IPv4 first)
//	http       url, status (number), body (string, cut at max_body),
//	           json (the body when its Content-Type is JSON and it parses),
//	           headers (map of lower-case name to first value)
//	ping       address, rtt (average, seconds), loss (0 to 1), sent, received
//	interface  address, name, assigned (bool; null without an address),
//	           up (bool), addresses (list of string: all of the interface's)
//	file       path, exists (bool), content (string, cut at max_bytes),
//	           json (when asked), mtime (string), age (seconds), size (bytes)
//	command    exit_status (number; null when killed), stdout, stderr
//	           (strings, cut at max_output), json (stdout, when asked)
//	cert       file or address, days_left (whole days until not_after,
//	           negative once past), not_after, not_before (strings),
//	           subject, issuer, verified (bool), verify_error (string)
//	peer       url, reachable (bool), name, role, version, shared_ips,
//	           test_ips (lists of string), auto_failover (bool), last_sync
//	           (string or null), agent_version, stopping (bool: the peer
//	           announced a planned stop and has not answered as running
//	           since), stopped_at (string or null), stop_reason
//
// ObjectType gives the type of these objects per kind, for checking rule
// expressions before anything runs.
//
// # When a check succeeds
//
//	tcp        a connection opens
//	dns        the name has at least one address of the asked type
//	http       the final status is expected (any 2xx by default)
//	ping       at least one reply comes back (loss tells the rest)
//	interface  the address is assigned (to the named interface, when one
//	           is named) and its interface is up and has a carrier; with a
//	           name alone, that interface is up
//	file       it exists, is a regular file, reads, and parses when json
//	           is asked
//	command    it exits with status 0 (and stdout parses when json is asked)
//	cert       the certificate is read (from the file, or from the server
//	           without failing on verification) and valid now; verified
//	           says whether it verifies
//	peer       the other agent's /v1/status answers 200 with a Status
//
// # Bounds
//
// Every blocking step honours the run's context, which ends at the
// timeout. A command runs in a process group of its own; the whole group
// is killed at the timeout, and again when the command exits, so nothing
// it started outlives the check. Ping tries an unprivileged ICMP socket
// first and a raw one next; where the kernel allows neither, the fact's
// error says how to allow one. Bodies, files and outputs are read up to
// their caps. A check stuck in a call that cannot be interrupted (a read
// from a hung network file system) is given up on shortly after its
// timeout, with a failed fact.
package facts
