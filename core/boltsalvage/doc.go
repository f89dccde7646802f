// Package boltsalvage reads what it can out of the bytes of a damaged
// bbolt file, without bbolt, which trusts its pages and panics or faults
// on damaged ones.
//
// Scan walks the B-tree from the newest valid meta page, skipping pages
// that are out of the file or not what they should be; then, when that
// walk did not reach everything, it scans every page that is neither
// reached nor free for leaf pages (the children of a damaged branch page,
// the pages of a file whose meta pages are gone). It yields every
// key/value pair it finds, with the bucket path for pairs the walk
// reached, and the problems it met. Collect turns those pairs into the
// records of one bucket, by the caller's decoding and the caller's rule
// for which of several copies found by the scan wins.
//
// Every read is bounds-checked: Scan never panics. What it cannot do: a
// pair found by the scan has no known bucket (its page is no longer
// reached from a root), so the caller must tell its records from others
// by their bytes; when the freelist is unreadable, free pages cannot be
// told from live ones, and a pair found on one may be an old version, or
// one deleted since (Result.MaybeStale); pages that are gone (a truncated
// file) or overwritten leave no trace; overflow pages that run past the
// end of the file are cut there; buckets nested in pages the scan found
// are read only when they are inline.
//
// The package also holds the file steps both of the agent's bbolt stores
// take to recover a damaged file: the lock bbolt takes (LockFile) and
// setting the damaged file aside for a salvaged one (Replace).
package boltsalvage
