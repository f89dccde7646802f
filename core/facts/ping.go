package facts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/hcldecode"
)

// KindPing is the kind that sends ICMP echo requests.
const KindPing Kind = "ping"

// PingSpec is an ICMP echo check.
type PingSpec struct {
	// Address is a host name or an IP address.
	Address string
	// Count is the number of echo requests; default DefaultPingCount.
	// They are sent a second apart, closer when the timeout is short.
	Count int
}

// DefaultPingCount is PingSpec.Count when it is left zero.
const DefaultPingCount = 3

// maxPingCount bounds PingSpec.Count so that a typo cannot make a check
// flood its target.
const maxPingCount = 100

func init() {
	register(40, &kindDef{
		name: KindPing,
		args: []Arg{
			{Name: "ping", Main: true, Type: cty.String, Field: "ping.address", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				s.Ping = &PingSpec{Address: v.AsString()}
				return nil
			}},
			{Name: "count", Type: cty.Number, Field: "ping.count", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				n, ok := hcldecode.WholeNumber(v)
				if !ok {
					return &ArgError{Summary: "Invalid count", Detail: "count is a whole number of echo requests, such as 3."}
				}
				s.Ping.Count = int(n)
				return nil
			}},
		},
		values: map[string]cty.Type{
			"address":  cty.String,
			"rtt":      cty.Number,
			"loss":     cty.Number,
			"sent":     cty.Number,
			"received": cty.Number,
		},
		volatile: []string{"rtt"},
		has:      func(s Spec) bool { return s.Ping != nil },
		defaults: func(s Spec) Spec {
			c := *s.Ping
			if c.Count == 0 {
				c.Count = DefaultPingCount
			}
			s.Ping = &c
			return s
		},
		valid: func(s Spec, add addFunc) {
			p := s.Ping
			if strings.TrimSpace(p.Address) == "" {
				add("ping.address", "must be set")
			}
			if p.Count < 1 || p.Count > maxPingCount {
				add("ping.count", "must be between 1 and %d, not %d", maxPingCount, p.Count)
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.Ping != nil {
				v["address"] = stringVal(s.Ping.Address)
			}
		},
		run: checkPing,
	})
}

// errPingNotPermitted is the failure of a ping check when the kernel
// allows neither kind of ICMP socket.
var errPingNotPermitted = errors.New(`this process may not send ICMP: allow unprivileged ICMP with sysctl net.ipv4.ping_group_range="0 2147483647" or grant CAP_NET_RAW`)

// pingInterval is the gap between echo requests, unless the timeout asks
// for less.
const (
	pingInterval    = time.Second
	minPingInterval = 10 * time.Millisecond
)

// checkPing sends Count echo requests and waits for the replies, within
// the timeout. It tries an unprivileged (UDP) ICMP socket first, then a
// raw one. Values: address, rtt (average, seconds; null without a reply),
// loss (0 to 1), sent, received. It fails when no reply came; partial
// loss is a success with loss above 0.
func checkPing(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error {
	p := s.Ping
	ip, err := resolveOne(ctx, p.Address)
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	// Stop sending and waiting a little before the deadline, so the
	// statistics come back before Run gives up.
	budget := time.Until(deadline) * 9 / 10
	if budget <= 0 {
		return context.DeadlineExceeded
	}
	interval := max(min(pingInterval, budget/time.Duration(p.Count+1)), minPingInterval)

	stats, err := e.ping(ctx, ip, p.Count, interval, budget, false)
	if refused(err) {
		var errRaw error
		stats, errRaw = e.ping(ctx, ip, p.Count, interval, budget, true)
		if refused(errRaw) {
			return fmt.Errorf("ping %s: %w (unprivileged ICMP: %v; raw socket: %v)", p.Address, errPingNotPermitted, err, errRaw)
		}
		err = errRaw
	}
	// The end of the context ends a run that lost packets; what was
	// sent and received by then still counts.
	ended := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	if err != nil && (!ended || stats == nil || stats.PacketsSent == 0) {
		return fmt.Errorf("ping %s: %w", p.Address, err)
	}
	sent, recv := stats.PacketsSent, stats.PacketsRecv
	v["sent"] = cty.NumberIntVal(int64(sent))
	v["received"] = cty.NumberIntVal(int64(recv))
	if sent > 0 {
		v["loss"] = cty.NumberFloatVal(float64(max(sent-recv, 0)) / float64(sent))
	}
	if recv > 0 {
		v["rtt"] = secondsVal(stats.AvgRtt)
		return nil
	}
	return fmt.Errorf("ping %s: no reply (%d sent)", p.Address, sent)
}

// pingFunc is the signature of ping, which tests replace.
type pingFunc func(ctx context.Context, ip netip.Addr, count int, interval, budget time.Duration, privileged bool) (*probing.Statistics, error)

// ping runs one pinger and returns its statistics, which are meaningful
// even with an error when the context ended the run.
func ping(ctx context.Context, ip netip.Addr, count int, interval, budget time.Duration, privileged bool) (*probing.Statistics, error) {
	pinger := probing.New(ip.String())
	pinger.SetIPAddr(&net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()})
	pinger.SetPrivileged(privileged)
	pinger.SetLogger(probing.NoopLogger{})
	pinger.Count = count
	pinger.Interval = interval
	pinger.Timeout = budget
	err := pinger.RunWithContext(ctx)
	return pinger.Statistics(), err
}

// refused reports an error of opening an ICMP socket that the kernel
// forbids (or does not offer).
func refused(err error) bool {
	return err != nil && (errors.Is(err, os.ErrPermission) ||
		errors.Is(err, syscall.EPROTONOSUPPORT) ||
		errors.Is(err, syscall.ESOCKTNOSUPPORT))
}

// resolveOne returns addr as an IP address, resolving a name to its first
// IPv4 address, or its first address when it has none.
func resolveOne(ctx context.Context, addr string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(addr); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", addr)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("lookup %s: no addresses", addr)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	return ips[0], nil
}
