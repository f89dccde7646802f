package server

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// fakeConn is a connection from addr that records its closing.
type fakeConn struct {
	net.Conn
	addr   net.Addr
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.addr }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

func tcpAddr(s string) net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(s), 40000))
}

// TestConnLimiter_admit: which connection a new one replaces, or whether
// it is refused, at the global and the per-client bounds.
func TestConnLimiter_admit(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type conn struct {
		ip    string
		state http.ConnState
		age   time.Duration // in its state
	}
	tests := []struct {
		name           string
		max, perClient int
		open           []conn
		from           string
		admitted       bool
		victim         int // index in open; -1 for none
	}{
		{name: "room", max: 3, perClient: 3, open: []conn{{"10.0.0.1", http.StateActive, 0}}, from: "10.0.0.2", admitted: true, victim: -1},
		{name: "full of busy connections", max: 2, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.2", http.StateActive, time.Hour}},
			from: "10.0.0.3", victim: -1},
		{name: "full: the idle one goes", max: 3, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.2", http.StateIdle, time.Second}, {"10.0.0.1", http.StateActive, time.Hour}},
			from: "10.0.0.3", admitted: true, victim: 1},
		{name: "full: the oldest idle one goes", max: 3, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateIdle, time.Second}, {"10.0.0.2", http.StateIdle, time.Minute}, {"10.0.0.3", http.StateIdle, 2 * time.Second}},
			from: "10.0.0.4", admitted: true, victim: 1},
		{name: "full: the heaviest client's idle one goes first", max: 3, perClient: 3,
			open: []conn{{"10.0.0.9", http.StateIdle, time.Hour}, {"10.0.0.1", http.StateIdle, time.Second}, {"10.0.0.1", http.StateActive, time.Second}},
			from: "10.0.0.4", admitted: true, victim: 1},
		{name: "full: a silent connection goes after staleNew", max: 2, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.2", http.StateNew, staleNew}},
			from: "10.0.0.3", admitted: true, victim: 1},
		{name: "full: a new connection within staleNew stays", max: 2, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.2", http.StateNew, staleNew - time.Millisecond}},
			from: "10.0.0.3", victim: -1},
		{name: "full: kept-alive goes before silent", max: 2, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateNew, time.Hour}, {"10.0.0.2", http.StateIdle, time.Second}},
			from: "10.0.0.3", admitted: true, victim: 1},
		{name: "full: a heavier client's new connection goes for a new client", max: 3, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateNew, time.Millisecond}, {"10.0.0.1", http.StateNew, 2 * time.Millisecond}, {"10.0.0.1", http.StateActive, time.Hour}},
			from: "10.0.0.2", admitted: true, victim: 1},
		{name: "full: a heavy client's new connection goes before a light client's idle one", max: 3, perClient: 3,
			open: []conn{{"10.0.0.9", http.StateIdle, time.Hour}, {"10.0.0.1", http.StateNew, 2 * time.Millisecond}, {"10.0.0.1", http.StateNew, time.Millisecond}},
			from: "10.0.0.4", admitted: true, victim: 1},
		{name: "full: a new connection of a client not heavier stays", max: 3, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateNew, time.Millisecond}, {"10.0.0.1", http.StateNew, time.Millisecond}, {"10.0.0.2", http.StateActive, time.Hour}},
			from: "10.0.0.2", victim: -1},
		{name: "full: hijacked stays", max: 1, perClient: 3,
			open: []conn{{"10.0.0.1", http.StateHijacked, time.Hour}}, from: "10.0.0.3", victim: -1},
		{name: "client at its bound, busy", max: 10, perClient: 2,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.2", http.StateIdle, time.Hour}},
			from: "10.0.0.1", victim: -1},
		{name: "client at its bound, new connections stay", max: 10, perClient: 2,
			open: []conn{{"10.0.0.1", http.StateNew, time.Millisecond}, {"10.0.0.1", http.StateNew, time.Millisecond}},
			from: "10.0.0.1", victim: -1},
		{name: "client at its bound: its own idle one goes", max: 10, perClient: 2,
			open: []conn{{"10.0.0.2", http.StateIdle, time.Hour}, {"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.1", http.StateIdle, time.Second}},
			from: "10.0.0.1", admitted: true, victim: 2},
		{name: "another client is not held to the bound of one", max: 10, perClient: 2,
			open: []conn{{"10.0.0.1", http.StateActive, time.Hour}, {"10.0.0.1", http.StateActive, time.Hour}},
			from: "10.0.0.2", admitted: true, victim: -1},
		{name: "an IPv6 /64 is one client", max: 10, perClient: 2,
			open: []conn{{"2001:db8:1:2::1", http.StateActive, time.Hour}, {"2001:db8:1:2:ffff::7", http.StateActive, time.Hour}},
			from: "2001:db8:1:2::99", victim: -1},
		{name: "another IPv6 /64 is another client", max: 10, perClient: 2,
			open: []conn{{"2001:db8:1:2::1", http.StateActive, time.Hour}, {"2001:db8:1:2::2", http.StateActive, time.Hour}},
			from: "2001:db8:1:3::1", admitted: true, victim: -1},
		{name: "IPv4-mapped is IPv4", max: 10, perClient: 1,
			open: []conn{{"::ffff:10.0.0.1", http.StateActive, time.Hour}}, from: "10.0.0.1", victim: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			l := newConnLimiter(nil, tt.max, tt.perClient, hclog.NewNullLogger())
			l.now = func() time.Time { return now }
			var open []*limitedConn
			for i, c := range tt.open {
				lc, victim, _, _ := l.admit(&fakeConn{addr: tcpAddr(c.ip)})
				if lc == nil || victim != nil {
					t.Fatalf("setup: connection %d not admitted alone", i)
				}
				lc.state, lc.since = c.state, t0.Add(-c.age)
				open = append(open, lc)
			}
			lc, victim, _, _ := l.admit(&fakeConn{addr: tcpAddr(tt.from)})
			if (lc != nil) != tt.admitted {
				t.Errorf("admitted = %v, want %v", lc != nil, tt.admitted)
			}
			want := (*limitedConn)(nil)
			if tt.victim >= 0 {
				want = open[tt.victim]
			}
			if victim != want {
				t.Errorf("victim = %v, want connection %d", victim, tt.victim)
			}
			// The counts stay within the bounds and match the open set.
			total := 0
			for key, set := range l.byKey {
				if len(set) > tt.perClient {
					t.Errorf("client %s has %d connections, over %d", key, len(set), tt.perClient)
				}
				total += len(set)
			}
			if total != len(l.conns) || len(l.conns) > tt.max {
				t.Errorf("%d connections by client, %d in all, bound %d", total, len(l.conns), tt.max)
			}
		})
	}
}

// TestConnLimiter_release: a connection gives its place back once, when
// closed, even when it was evicted first.
func TestConnLimiter_release(t *testing.T) {
	l := newConnLimiter(nil, 1, 1, hclog.NewNullLogger())
	fc := &fakeConn{addr: tcpAddr("10.0.0.1")}
	a, _, _, _ := l.admit(fc)
	if b, _, _, _ := l.admit(&fakeConn{addr: tcpAddr("10.0.0.2")}); b != nil {
		t.Fatal("a second connection was admitted over a bound of 1")
	}
	if err := a.Close(); err != nil || !fc.closed {
		t.Fatalf("Close = %v, closed %v", err, fc.closed)
	}
	_ = a.Close()
	if len(l.conns) != 0 || len(l.byKey) != 0 {
		t.Fatalf("after Close: %d connections, %d clients", len(l.conns), len(l.byKey))
	}
	b, _, _, _ := l.admit(&fakeConn{addr: tcpAddr("10.0.0.2")})
	if b == nil {
		t.Fatal("no room after Close")
	}
	l.connState(b, http.StateIdle)
	c, victim, _, _ := l.admit(&fakeConn{addr: tcpAddr("10.0.0.3")})
	if c == nil || victim != b {
		t.Fatalf("admit over an idle connection = %v, victim %v", c, victim)
	}
	// The server closes the evicted connection later: no place is given
	// back twice.
	_ = b.Close()
	if len(l.conns) != 1 {
		t.Fatalf("%d connections after the evicted one closed, want 1", len(l.conns))
	}
}

// TestConnLimiter_log: a flood at the bounds is logged at most once a
// minute, with the counts since the last log.
func TestConnLimiter_log(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newConnLimiter(nil, 1, 1, hclog.NewNullLogger())
	l.now = func() time.Time { return now }
	a, _, _, log := l.admit(&fakeConn{addr: tcpAddr("10.0.0.1")})
	if log {
		t.Error("logged with nothing refused")
	}
	l.connState(a, http.StateActive)
	_, _, c, log := l.admit(&fakeConn{addr: tcpAddr("10.0.0.2")})
	if !log || c != (limitCounts{refused: 1}) {
		t.Errorf("first refusal: log %v, counts %+v", log, c)
	}
	for range 3 {
		if _, _, _, log := l.admit(&fakeConn{addr: tcpAddr("10.0.0.2")}); log {
			t.Error("logged again within a minute")
		}
	}
	now = now.Add(limitLogEvery)
	_, _, c, log = l.admit(&fakeConn{addr: tcpAddr("10.0.0.2")})
	if !log || c != (limitCounts{refused: 4}) {
		t.Errorf("a minute later: log %v, counts %+v, want 4 refused", log, c)
	}
}

func TestDefaultLimits(t *testing.T) {
	for _, tt := range []struct {
		nofile uint64
		want   int
	}{
		{0, 256}, {1, 1}, {64, 16}, {1024, 256}, {20000, MaxConnsCap}, {1 << 62, MaxConnsCap},
	} {
		if got := defaultMaxConns(tt.nofile); got != tt.want {
			t.Errorf("defaultMaxConns(%d) = %d, want %d", tt.nofile, got, tt.want)
		}
	}
	for _, tt := range []struct{ max, want int }{{1024, 32}, {64, 16}, {2, 1}} {
		if got := (Limits{MaxConns: tt.max}).withPerClient().MaxConnsPerClient; got != tt.want {
			t.Errorf("MaxConns %d: MaxConnsPerClient = %d, want %d", tt.max, got, tt.want)
		}
	}
	d := DefaultLimits()
	if nofile := openFileLimit(); nofile > 0 && uint64(d.MaxConns) > nofile/4 {
		t.Errorf("MaxConns %d with RLIMIT_NOFILE %d", d.MaxConns, nofile)
	}
	if d.ReadHeaderTimeout <= 0 || d.ReadTimeout <= 0 || d.WriteTimeout <= 0 || d.IdleTimeout <= 0 || d.MaxHeaderBytes <= 0 || d.MaxBodyBytes <= 0 || d.MaxConnsPerClient <= 0 {
		t.Errorf("a default is missing: %+v", d)
	}
	got, err := Limits{IdleTimeout: time.Second, MaxConns: 8}.resolve()
	if err != nil || got.IdleTimeout != time.Second || got.MaxConns != 8 || got.MaxConnsPerClient != 2 || got.ReadTimeout != DefaultReadTimeout {
		t.Errorf("resolve = %+v, %v", got, err)
	}
}
