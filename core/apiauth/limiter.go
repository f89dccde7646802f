package apiauth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the failure limit (WithFailureLimit).
const (
	DefaultMaxFailures   = 20
	DefaultFailureWindow = time.Minute
)

// maxClients caps the limiter's table. When it is full, expired entries are
// dropped, and if none has expired the oldest is.
const maxClients = 4096

// failures counts the failed attempts of one client since start.
type failures struct {
	start time.Time
	n     int
}

// limiter counts failed attempts per client address in fixed windows. It
// has no goroutine: old entries are dropped when the table is full.
type limiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	clients map[netip.Prefix]*failures
}

func newLimiter() *limiter {
	return &limiter{max: DefaultMaxFailures, window: DefaultFailureWindow, clients: make(map[netip.Prefix]*failures)}
}

// clientKey returns the client of remoteAddr (host:port): an IPv4 address,
// or the /64 of an IPv6 one (a host usually has a whole /64). ok is false
// when remoteAddr holds no address (a Unix socket): such callers are not
// limited.
func clientKey(remoteAddr string) (netip.Prefix, bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

// blocked reports whether key has used up its failures in the current
// window, and how long until the window ends.
func (l *limiter) blocked(key netip.Prefix, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.clients[key]
	if !ok {
		return 0, false
	}
	left := f.start.Add(l.window).Sub(now)
	if left <= 0 {
		delete(l.clients, key)
		return 0, false
	}
	return left, f.n >= l.max
}

// fail counts a failed attempt of key.
func (l *limiter) fail(key netip.Prefix, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.clients[key]; ok && now.Before(f.start.Add(l.window)) {
		f.n++
		return
	}
	if len(l.clients) >= maxClients {
		l.evict(now)
	}
	l.clients[key] = &failures{start: now, n: 1}
}

// evict drops the expired entries, or the oldest one when none has
// expired. Called with mu held, only when the table is full.
func (l *limiter) evict(now time.Time) {
	var oldest netip.Prefix
	var oldestStart time.Time
	for k, f := range l.clients {
		if !now.Before(f.start.Add(l.window)) {
			delete(l.clients, k)
			continue
		}
		if oldestStart.IsZero() || f.start.Before(oldestStart) {
			oldest, oldestStart = k, f.start
		}
	}
	if len(l.clients) >= maxClients {
		delete(l.clients, oldest)
	}
}
