package facts

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

const pingHint = `sysctl net.ipv4.ping_group_range="0 2147483647" or grant CAP_NET_RAW`

// TestCheckPing_Loopback pings 127.0.0.1 for real. The sandbox may forbid
// ICMP; then the fact must fail with the hint, and never hang.
func TestCheckPing_Loopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1", "localhost"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			var f Fact
			within(t, 4*time.Second, func() {
				f = runCheck(t, Spec{Name: "gw", Timeout: 2 * time.Second, Ping: &PingSpec{Address: addr, Count: 2}})
			})
			if !f.OK {
				if !strings.Contains(f.Error, pingHint) {
					t.Fatalf("ping failed without the hint: %q", f.Error)
				}
				t.Skipf("ICMP not permitted here: %s", f.Error)
			}
			if num(t, f, "sent") != 2 || num(t, f, "received") < 1 {
				t.Errorf("sent %v received %v", num(t, f, "sent"), num(t, f, "received"))
			}
			if loss := num(t, f, "loss"); loss < 0 || loss > 1 {
				t.Errorf("loss = %v", loss)
			}
			if rtt := num(t, f, "rtt"); rtt < 0 || rtt > 1 {
				t.Errorf("rtt = %v", rtt)
			}
		})
	}
}

// fakePinger answers ping calls: refusing the kinds of socket listed, and
// otherwise reporting stats.
type fakePinger struct {
	mu       sync.Mutex
	refuse   map[bool]error // by privileged
	stats    probing.Statistics
	err      error
	calls    []bool
	interval time.Duration
}

func (p *fakePinger) ping(_ context.Context, ip netip.Addr, count int, interval, budget time.Duration, privileged bool) (*probing.Statistics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, privileged)
	p.interval = interval
	if err := p.refuse[privileged]; err != nil {
		return &probing.Statistics{}, err
	}
	st := p.stats
	st.IPAddr = &net.IPAddr{IP: ip.AsSlice()}
	return &st, p.err
}

func socketErr(errno syscall.Errno) error {
	return &net.OpError{Op: "listen", Net: "ip4:icmp", Err: os.NewSyscallError("socket", errno)}
}

func TestCheckPing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pinger    *fakePinger
		count     int
		ok        bool
		errPart   string
		wantCalls int
		check     func(t *testing.T, f Fact)
	}{
		{
			name:   "all replies",
			pinger: &fakePinger{stats: probing.Statistics{PacketsSent: 3, PacketsRecv: 3, AvgRtt: 2 * time.Millisecond}},
			ok:     true, wantCalls: 1,
			check: func(t *testing.T, f Fact) {
				if num(t, f, "rtt") != 0.002 || num(t, f, "loss") != 0 || num(t, f, "sent") != 3 || num(t, f, "received") != 3 {
					t.Errorf("values = %v", f.Values)
				}
			},
		},
		{
			name:   "partial loss is ok",
			pinger: &fakePinger{stats: probing.Statistics{PacketsSent: 4, PacketsRecv: 3, AvgRtt: time.Millisecond}},
			ok:     true, wantCalls: 1,
			check: func(t *testing.T, f Fact) {
				if num(t, f, "loss") != 0.25 {
					t.Errorf("loss = %v", num(t, f, "loss"))
				}
			},
		},
		{
			name:    "no reply",
			pinger:  &fakePinger{stats: probing.Statistics{PacketsSent: 3}},
			errPart: "ping 192.0.2.1: no reply (3 sent)", wantCalls: 1,
			check: func(t *testing.T, f Fact) {
				if num(t, f, "loss") != 1 || !isNull(t, f, "rtt") {
					t.Errorf("values = %v", f.Values)
				}
			},
		},
		{
			name:   "the timeout ends a run that lost packets",
			pinger: &fakePinger{stats: probing.Statistics{PacketsSent: 2, PacketsRecv: 1}, err: context.DeadlineExceeded},
			ok:     true, wantCalls: 1,
			check: func(t *testing.T, f Fact) {
				if num(t, f, "loss") != 0.5 {
					t.Errorf("loss = %v", num(t, f, "loss"))
				}
			},
		},
		{
			name:    "the timeout before anything was sent",
			pinger:  &fakePinger{err: context.DeadlineExceeded},
			errPart: "ping 192.0.2.1: context deadline exceeded", wantCalls: 1,
		},
		{
			name:   "unprivileged refused, raw socket works",
			pinger: &fakePinger{refuse: map[bool]error{false: socketErr(syscall.EACCES)}, stats: probing.Statistics{PacketsSent: 3, PacketsRecv: 3}},
			ok:     true, wantCalls: 2,
		},
		{
			name:      "neither permitted",
			pinger:    &fakePinger{refuse: map[bool]error{false: socketErr(syscall.EACCES), true: socketErr(syscall.EPERM)}},
			errPart:   pingHint,
			wantCalls: 2,
			check: func(t *testing.T, f Fact) {
				for _, part := range []string{"ping 192.0.2.1: this process may not send ICMP", "unprivileged ICMP: listen ip4:icmp: socket: permission denied", "raw socket: listen ip4:icmp: socket: operation not permitted"} {
					if !strings.Contains(f.Error, part) {
						t.Errorf("error %q lacks %q", f.Error, part)
					}
				}
				if !isNull(t, f, "sent") {
					t.Errorf("sent = %#v", value(t, f, "sent"))
				}
			},
		},
		{
			name:    "other errors are not retried",
			pinger:  &fakePinger{err: errors.New("network is unreachable")},
			errPart: "ping 192.0.2.1: network is unreachable", wantCalls: 1,
		},
		{
			name:   "many packets are sent closer together",
			pinger: &fakePinger{stats: probing.Statistics{PacketsSent: 50, PacketsRecv: 50}},
			count:  50, ok: true, wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := systemEnv(time.Now)
			e.ping = tt.pinger.ping
			f := runWith(t, Spec{Name: "gw", Timeout: 2 * time.Second, Ping: &PingSpec{Address: "192.0.2.1", Count: tt.count}}, e)
			wantOK(t, f, tt.ok, tt.errPart)
			if len(tt.pinger.calls) != tt.wantCalls {
				t.Errorf("%d ping calls, want %d", len(tt.pinger.calls), tt.wantCalls)
			}
			count := max(tt.count, DefaultPingCount)
			if iv := tt.pinger.interval; iv*time.Duration(count) > 2*time.Second || iv < minPingInterval {
				t.Errorf("interval %s for %d packets in 2s", iv, count)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}
