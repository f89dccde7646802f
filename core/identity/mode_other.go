//go:build !unix

package identity

// checkModes: this system has no Unix file modes; the key file mode
// check is skipped.
const checkModes = false

// openFlags are added when an operator's file is opened: none here.
const openFlags = 0
