package facts

import (
	"net"
	"testing"
	"time"
)

func TestCheckTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// The listener never accepts: the kernel completes the handshake
	// anyway, which is what a tcp check observes.
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback: %v", err)
	} else {
		t.Cleanup(func() { ln6.Close() })
	}

	tests := []struct {
		name    string
		address string
		timeout time.Duration
		ok      bool
		errPart string
	}{
		{name: "open port", address: ln.Addr().String(), ok: true},
		{name: "closed port", address: closedPort(t), errPart: "connection refused"},
		{name: "unknown host", address: "no-such-host.invalid:80", timeout: time.Second, errPart: "no-such-host.invalid"},
	}
	if ln6 != nil {
		tests = append(tests, struct {
			name    string
			address string
			timeout time.Duration
			ok      bool
			errPart string
		}{name: "ipv6", address: ln6.Addr().String(), ok: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Fact
			within(t, 3*time.Second, func() {
				f = runCheck(t, Spec{Name: "db", Timeout: tt.timeout, TCP: &TCPSpec{Address: tt.address}})
			})
			wantOK(t, f, tt.ok, tt.errPart)
			if got := str(t, f, "address"); got != tt.address {
				t.Errorf("address = %q", got)
			}
			if f.Latency <= 0 || f.Observed.IsZero() {
				t.Errorf("latency %s observed %s", f.Latency, f.Observed)
			}
		})
	}
}
