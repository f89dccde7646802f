//go:build unix

package testserver

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// ClosedAddr returns a host:port on 127.0.0.1 where nothing listens, for
// tests of "connection refused", and keeps it so until the test ends: a
// socket is bound to the port but never listens, so connections to it
// are refused and no other listener (of a parallel test, say) can take
// it. A port found by listening and closing again can be taken by the
// next test that listens.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("testserver: socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("testserver: bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("testserver: getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("testserver: bound to %T, want an IPv4 address", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}
