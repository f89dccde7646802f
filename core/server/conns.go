package server

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// connLimiter is a listener that bounds the connections open at once, in
// all (max) and per client (perClient; see clientKey). A connection over
// a bound takes the place of an idle one when there is one (see
// victimLocked), or is closed as soon as it is accepted: it holds no file
// descriptor and never reaches the http.Server. The http.Server reports
// each connection's state through connState.
//
// Its owner is the http.Server that serves it: Serve's loop calls Accept,
// and Shutdown closes it.
type connLimiter struct {
	net.Listener
	max, perClient int
	logger         hclog.Logger
	now            func() time.Time

	mu     sync.Mutex
	conns  map[*limitedConn]struct{}
	byKey  map[netip.Addr]map[*limitedConn]struct{}
	counts limitCounts // since the last log
	logged time.Time   // when the bound was last logged
}

// limitCounts are the connections closed by the bounds.
type limitCounts struct {
	refused int // closed at once, at a bound with no idle connection
	evicted int // idle connections closed to make room for new ones
}

// limitLogEvery is how often, at most, a flood at the bounds is logged.
const limitLogEvery = time.Minute

func newConnLimiter(ln net.Listener, max, perClient int, logger hclog.Logger) *connLimiter {
	return &connLimiter{
		Listener:  ln,
		max:       max,
		perClient: perClient,
		logger:    logger,
		now:       time.Now,
		conns:     make(map[*limitedConn]struct{}),
		byKey:     make(map[netip.Addr]map[*limitedConn]struct{}),
	}
}

// limitedConn is a connection the limiter admitted. It gives its place
// back when it is closed, by the server or by the limiter.
type limitedConn struct {
	net.Conn
	l   *connLimiter
	key netip.Addr

	// Under l.mu.
	state http.ConnState
	since time.Time // when state began

	closeOnce sync.Once
	closeErr  error
}

// Close gives the connection's place back and closes it.
func (c *limitedConn) Close() error {
	c.l.release(c)
	return c.closeConn()
}

func (c *limitedConn) closeConn() error {
	c.closeOnce.Do(func() { c.closeErr = c.Conn.Close() })
	return c.closeErr
}

// CloseWrite shuts down the writing side of the connection, when it can:
// the http.Server does so before it closes a connection whose request it
// did not read whole, so that the client reads the answer, not a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the underlying connection.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// Accept returns the next connection within the bounds. A connection
// over them is closed here, and Accept waits for the next one.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, victim, counts, log := l.admit(c)
		if victim != nil {
			_ = victim.closeConn()
		}
		if log {
			l.logger.Warn("connection limit reached: closing idle connections, then refusing new ones",
				"max_conns", l.max, "max_conns_per_client", l.perClient,
				"refused", counts.refused, "idle_closed", counts.evicted)
		}
		if lc == nil {
			_ = c.Close()
			continue
		}
		return lc, nil
	}
}

// admit decides the fate of the accepted connection c: the connection to
// serve, or nil to close c at once; the idle connection to close to make
// room for it, if any; and the counts to log, when log is true.
func (l *connLimiter) admit(c net.Conn) (lc, victim *limitedConn, counts limitCounts, log bool) {
	key := clientKey(c.RemoteAddr())
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lc, victim = l.admitLocked(c, key, now)
	counts, log = l.noteLocked(now)
	return lc, victim, counts, log
}

func (l *connLimiter) admitLocked(c net.Conn, key netip.Addr, now time.Time) (lc, victim *limitedConn) {
	switch {
	case len(l.byKey[key]) >= l.perClient:
		// The client's own idle connection: the client's count, and so
		// the total, drops by one.
		victim = l.victimLocked(l.byKey[key], key, now)
	case len(l.conns) >= l.max:
		victim = l.victimLocked(l.conns, key, now)
	default:
		return l.addLocked(c, key, now), nil
	}
	if victim == nil {
		l.counts.refused++
		return nil, nil
	}
	l.releaseLocked(victim)
	l.counts.evicted++
	return l.addLocked(c, key, now), victim
}

// noteLocked returns the counts to log, and resets them, when some
// connection was refused or evicted and the last log is old enough.
func (l *connLimiter) noteLocked(now time.Time) (limitCounts, bool) {
	if l.counts == (limitCounts{}) || (!l.logged.IsZero() && now.Sub(l.logged) < limitLogEvery) {
		return limitCounts{}, false
	}
	c := l.counts
	l.counts = limitCounts{}
	l.logged = now
	return c, true
}

func (l *connLimiter) addLocked(c net.Conn, key netip.Addr, now time.Time) *limitedConn {
	lc := &limitedConn{Conn: c, l: l, key: key, state: http.StateNew, since: now}
	l.conns[lc] = struct{}{}
	if l.byKey[key] == nil {
		l.byKey[key] = make(map[*limitedConn]struct{})
	}
	l.byKey[key][lc] = struct{}{}
	return lc
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(c)
}

// releaseLocked gives c's place back; again is a no-op.
func (l *connLimiter) releaseLocked(c *limitedConn) {
	delete(l.conns, c)
	delete(l.byKey[c.key], c)
	if len(l.byKey[c.key]) == 0 {
		delete(l.byKey, c.key)
	}
}

// victimLocked returns the connection of set to close for a new one of
// the client key, or nil when none may be. A connection may be closed when
// it is idle: between requests (http.StateIdle), or without a whole
// request for staleNew. One without a whole request yet may be closed,
// too, when its client holds more connections than key's would after the
// exchange: under a flood from many addresses, clients share the bound.
// A connection serving a request is never closed.
//
// The choice falls on the client with the most connections, then on a
// kept-alive connection before a silent one, then on the one in its state
// the longest: a client with one connection, such as the HA peer, is the
// last to lose it.
func (l *connLimiter) victimLocked(set map[*limitedConn]struct{}, key netip.Addr, now time.Time) *limitedConn {
	have := len(l.byKey[key])
	var best *limitedConn
	for c := range set {
		r := c.rank(now)
		if r > staleRank && (r > freshRank || len(l.byKey[c.key]) <= have+1) {
			continue
		}
		if best == nil || l.beforeLocked(c, best, now) {
			best = c
		}
	}
	return best
}

// The ranks of connections, in the order they are closed for new ones.
const (
	idleRank  = iota // kept alive, between requests
	staleRank        // no whole request for staleNew
	freshRank        // no whole request yet
	busyRank         // serving a request, or hijacked
)

func (c *limitedConn) rank(now time.Time) int {
	switch {
	case c.state == http.StateIdle:
		return idleRank
	case c.state == http.StateNew && now.Sub(c.since) >= staleNew:
		return staleRank
	case c.state == http.StateNew:
		return freshRank
	}
	return busyRank
}

// beforeLocked reports whether a is to be closed before b.
func (l *connLimiter) beforeLocked(a, b *limitedConn, now time.Time) bool {
	if na, nb := len(l.byKey[a.key]), len(l.byKey[b.key]); na != nb {
		return na > nb
	}
	if ra, rb := a.rank(now), b.rank(now); ra != rb {
		return ra < rb
	}
	return a.since.Before(b.since)
}

// connState is the http.Server's ConnState hook: it keeps each
// connection's state for victimLocked.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	lc := asLimited(c)
	if lc == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.state != state {
		lc.state, lc.since = state, now
	}
}

// asLimited finds the limitedConn in c, which a wrapper (such as
// *tls.Conn) may hide.
func asLimited(c net.Conn) *limitedConn {
	for c != nil {
		if lc, ok := c.(*limitedConn); ok {
			return lc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

// clientKey is what the per-client bound counts by: the IPv4 address, or
// the /64 of an IPv6 address (a host gets a whole /64). An address that
// cannot be read is the zero Addr, one client for all such.
func clientKey(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := ta.AddrPort().Addr().WithZone("").Unmap()
	if ip.Is6() && !ip.IsLoopback() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}
