package smtpsend

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// listenT listens on 127.0.0.1 and closes the listener, then waits for
// serve, when the test ends.
func listenT(t *testing.T, serve func(ln net.Listener)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { serve(ln) })
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSender_Check_silentServer: a port that accepts and says nothing (not
// TLS either) is a temporary failure that says so, not a firewall hint.
func TestSender_Check_silentServer(t *testing.T) {
	t.Parallel()
	port := listenT(t, func(ln net.Listener) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() { _, _ = io.Copy(io.Discard, c) }() // reads, never answers
		}
	})
	s := newSender(t, Options{Host: "127.0.0.1", Port: port, Security: SecuritySTARTTLS,
		Timeout: 500 * time.Millisecond, GreetingTimeout: 50 * time.Millisecond})
	err := s.Check(t.Context())
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Check = %v, want a *sdk.DeliveryError", err)
	}
	if de.Kind != sdk.Temporary || !errors.Is(err, errNoGreeting) || !strings.Contains(de.Remedy, "accepts connections but says nothing") {
		t.Errorf("Check = %v (kind %v, remedy %q), want a temporary no-greeting error", err, de.Kind, de.Remedy)
	}
}

// TestSender_Send_greetingAfterProbe: a plain server that greets only
// after the TLS probe (a slow greeter) is not taken for an implicit-TLS
// port: the message goes through. The proxy below holds the first
// connection's bytes until the probe's connection has come and gone.
func TestSender_Send_greetingAfterProbe(t *testing.T) {
	t.Parallel()
	srv := testserver.StartT(t, testserver.Options{})
	probed := make(chan struct{})
	port := listenT(t, func(ln net.Listener) {
		first, err := ln.Accept()
		if err != nil {
			return
		}
		defer first.Close()
		probe, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, probe) // the ClientHello, until the prober hangs up
		_ = probe.Close()
		close(probed)
		back, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			return
		}
		defer back.Close()
		go func() {
			_, _ = io.Copy(back, first)
			_ = back.Close()
		}()
		_, _ = io.Copy(first, back)
	})
	s := newSender(t, Options{Host: "127.0.0.1", Port: port, Security: SecurityNone, GreetingTimeout: 50 * time.Millisecond})
	results, err := s.Send(t.Context(), []*sdk.Message{message("m1")})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if results[0].Err != nil {
		t.Fatalf("result: %v", results[0].Err)
	}
	select {
	case <-probed:
	default:
		t.Error("the greeting came before the probe: the test tested nothing")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}
}

// TestCapConn: reads stop at the bound since the last write, a write
// starts a new count, and once cut the connection stays cut.
func TestCapConn(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	c := &capConn{Conn: client, max: 8}
	go func() {
		_, _ = server.Write([]byte("12345678"))
		buf := make([]byte, 1)
		_, _ = server.Read(buf) // the client's write
		_, _ = server.Write([]byte("abcdefgh9"))
	}()
	got, err := io.ReadAll(io.LimitReader(c, 8))
	if err != nil || string(got) != "12345678" {
		t.Fatalf("first reply = %q, %v", got, err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(c)
	if !errors.Is(err, errReplyTooLarge) || string(got) != "abcdefgh" {
		t.Errorf("second reply = %q, %v; want 8 bytes, then errReplyTooLarge", got, err)
	}
	if !c.wasCut() {
		t.Error("wasCut = false after the cut")
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, errReplyTooLarge) {
		t.Errorf("read after the cut: %v, want errReplyTooLarge", err)
	}
}
