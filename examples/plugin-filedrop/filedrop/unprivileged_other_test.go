//go:build !unix

package filedrop_test

import "testing"

// runUnprivileged returns false: there is no root to drop here.
func runUnprivileged(*testing.T) bool { return false }
