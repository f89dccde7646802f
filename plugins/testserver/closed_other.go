//go:build !unix

package testserver

import (
	"net"
	"testing"
)

// ClosedAddr returns a host:port on 127.0.0.1 where nothing listens, for
// tests of "connection refused". On this system the port is found by
// listening and closing again, so a parallel test may take it.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
