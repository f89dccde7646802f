// Package library holds the product logic of Tocsin's built-in rule
// library: what a `library "failover"` block means. [Decode] reads and
// checks the block's settings; [Block.Expand] adds what they declare (the
// peer "partner", the checks self, primary_hostname, shared_ip_N,
// test_ip_N and sync, the node facts, and the library's rules) through a
// [Host], which the configuration loader implements. The package does not
// import core/config: the loader calls it, not the other way round.
//
// The rules' HCL lives in the top-level rules package, one file per rule.
// Each file's header says which setting the rule needs besides role,
// peer_url and notify (`# needs: SETTING`, or `# needs: none`), and, for a
// rule that does not notify the block's notify contacts, which setting
// names the contacts it notifies (`# notify: SETTING`): see [Rules].
//
// A library rule's expressions see the variable library (the settings, see
// rules/README.md); the rule is decoded by the loader's own rule decoder,
// so that its diagnostics read rules/FILE:LINE:COL.
package library
