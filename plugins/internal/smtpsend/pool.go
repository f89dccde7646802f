package smtpsend

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Defaults and bounds of the connection pool.
const (
	// DefaultMaxConnections is Options.MaxConnections when it is not set.
	DefaultMaxConnections = 4
	// MaxMaxConnections is the largest max_connections a transport
	// accepts: a pool is meant to be small.
	MaxMaxConnections = 20
	// DefaultIdleTimeout is Options.IdleTimeout when it is not set: long
	// enough to carry a burst's batches and the next burst soon after,
	// well under the idle limit of common servers (Postfix: 300 s).
	DefaultIdleTimeout = 30 * time.Second
	// messagesPerConnection: one Send uses another idle connection for
	// every this many messages (up to MaxConnections).
	messagesPerConnection = 4
	// quitTimeout bounds the QUIT that closes an idle connection.
	quitTimeout = 2 * time.Second
)

// pconn is one logged-in connection of the pool.
type pconn struct {
	gc *gomail.Client
	sc *smtp.Client
	st *connState

	// Guarded by pool.mu while the connection is idle.
	gen   uint64      // bumped each time the connection goes idle
	timer *time.Timer // closes it after the idle timeout
}

// quit ends the session politely (QUIT, within quitTimeout) and closes
// the connection.
func (c *pconn) quit(timeout time.Duration) {
	_ = c.sc.UpdateDeadline(min(timeout, quitTimeout))
	_ = c.gc.CloseWithSMTPClient(c.sc)
	c.st.close()
}

// pool bounds and keeps the connections of one Sender. A slot is the
// right to use one connection; a holder takes an idle connection or, when
// there is none, dials a new one. New connections are dialled only when
// no idle one is left, so the connections open (in use or idle) never
// outnumber the slots.
//
// Slots are granted in the order they were asked for, and a Send asks for
// all of its workers' slots at once (request): of two Sends that arrive
// together, the first gets every connection it can use and the second
// the ones the first leaves, as the first runs out of messages. Two
// batches sharing the connections half and half would end together, and
// leave every connection idle while the agent records them and sends the
// next two; one after the other, the second keeps the connections busy
// while the first is recorded.
type pool struct {
	max         int // slots
	idleTimeout time.Duration
	timeout     time.Duration // Options.Timeout, for QUIT

	mu      sync.Mutex
	used    int      // slots granted and not released
	waiting []*grant // slots asked for and not granted yet, in order
	idle    []*pconn // the most recently used last
	open    int      // connections open or being dialled
	peak    int      // the most open at once, for tests
	closed  bool
}

// grant is a slot asked for: ready is closed once it is granted.
type grant struct {
	ready chan struct{}
}

func newPool(maxConns int, idleTimeout, timeout time.Duration) *pool {
	return &pool{max: maxConns, idleTimeout: idleTimeout, timeout: timeout}
}

// request asks for n slots at once, behind those asked for before: each
// is granted at once when a slot is free, or when one is released and
// the slots asked for earlier have theirs. Every grant must be waited on
// (wait), which takes the slot or withdraws the request.
func (p *pool) request(n int) []*grant {
	gs := make([]*grant, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range gs {
		g := &grant{ready: make(chan struct{})}
		if p.used < p.max && len(p.waiting) == 0 {
			p.used++
			close(g.ready)
		} else {
			p.waiting = append(p.waiting, g)
		}
		gs[i] = g
	}
	return gs
}

// wait waits until g is granted, or withdraws it when ctx ends first. A
// slot granted at once is taken even if ctx has ended: the dial says so.
func (p *pool) wait(ctx context.Context, g *grant) error {
	select {
	case <-g.ready:
		return nil
	default:
	}
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	if i := slices.Index(p.waiting, g); i >= 0 {
		p.waiting = slices.Delete(p.waiting, i, i+1)
		p.mu.Unlock()
		return ctx.Err()
	}
	p.mu.Unlock()
	// Granted meanwhile: give the slot back.
	p.release()
	return ctx.Err()
}

// tryAcquire takes a slot when one is free and nobody waits for one; it
// reports whether it did.
func (p *pool) tryAcquire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used >= p.max || len(p.waiting) > 0 {
		return false
	}
	p.used++
	return true
}

// reserveIfNoIdle reserves room for a new connection, as take does, only
// when no idle connection is waiting; it reports whether it did.
func (p *pool) reserveIfNoIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) > 0 {
		return false
	}
	p.open++
	p.peak = max(p.peak, p.open)
	return true
}

// acquire takes a slot, behind those asked for before, waiting until one
// is free or ctx ends.
func (p *pool) acquire(ctx context.Context) error {
	return p.wait(ctx, p.request(1)[0])
}

// release gives a slot back: to the first slot asked for and not granted
// yet, if there is one.
func (p *pool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiting) > 0 {
		g := p.waiting[0]
		p.waiting = slices.Delete(p.waiting, 0, 1)
		close(g.ready)
		return
	}
	p.used--
}

// take returns the most recently used idle connection or, when there is
// none, nil after reserving room for one the caller dials (and gives back
// with put, or with drop if the dial fails).
func (p *pool) take() *pconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.popIdleLocked(); c != nil {
		return c
	}
	p.open++
	p.peak = max(p.peak, p.open)
	return nil
}

// popIdleLocked takes the most recently used idle connection, or nil when
// there is none; p.mu is held.
func (p *pool) popIdleLocked() *pconn {
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle = p.idle[:n-1]
	c.timer.Stop()
	return c
}

// reserve reserves room for a new connection even when idle ones are
// left, closing the least recently used idle one if the pool is full.
// The room is given back with put, or with drop if the dial fails.
func (p *pool) reserve() {
	p.mu.Lock()
	var evict *pconn
	if p.open >= p.max && len(p.idle) > 0 {
		evict = p.idle[0]
		p.idle = p.idle[1:]
		evict.timer.Stop()
		p.open--
	}
	p.open++
	p.peak = max(p.peak, p.open)
	p.mu.Unlock()
	if evict != nil {
		evict.quit(p.timeout)
	}
}

// reserveFresh reserves room for a connection that must be new (Check's),
// closing the least recently used idle one if the pool is full. It
// returns a func that gives the room back.
func (p *pool) reserveFresh() (unreserve func()) {
	p.reserve()
	return func() { p.drop(nil) }
}

// put makes c idle, to be closed after the idle timeout unless taken
// again; once the pool is closed, it closes c instead.
func (p *pool) put(c *pconn) {
	p.mu.Lock()
	if p.closed {
		p.open--
		p.mu.Unlock()
		c.quit(p.timeout)
		return
	}
	c.gen++
	gen := c.gen
	c.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(c, gen) })
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// expire closes c if it is still idle since it went idle as gen.
func (p *pool) expire(c *pconn, gen uint64) {
	p.mu.Lock()
	i := slices.Index(p.idle, c)
	if i < 0 || c.gen != gen {
		p.mu.Unlock()
		return
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.open--
	p.mu.Unlock()
	c.quit(p.timeout)
}

// drop forgets a connection that broke (closing it) or the room reserved
// for one whose dial failed (c nil).
func (p *pool) drop(c *pconn) {
	if c != nil {
		c.st.close()
	}
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

// close closes the idle connections and makes put close the others as
// they come back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		c.timer.Stop()
		wg.Go(func() { c.quit(p.timeout) })
	}
	wg.Wait()
}

// hasIdle reports whether an idle connection is waiting in the pool.
func (p *pool) hasIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) > 0
}

// counts returns the connections open and idle, and the most that were
// open at once, for tests.
func (p *pool) counts() (open, idle, peak int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.idle), p.peak
}

// PoolSchema returns the settings of the pool, which every SMTP transport
// takes.
func PoolSchema() sdk.Schema {
	return sdk.Schema{
		{Name: "max_connections", Type: sdk.TypeNumber, Default: strconv.Itoa(DefaultMaxConnections), Description: fmt.Sprintf("Most connections to the server open at once, from 1 to %d; they stay logged in and are reused, and a large batch is sent over several at once.", MaxMaxConnections)},
		{Name: "idle_timeout", Type: sdk.TypeDuration, Default: DefaultIdleTimeout.String(), Description: "Close a connection after it has been unused this long."},
	}
}

// CheckPool appends a diagnostic for each pool setting out of range.
func CheckPool(maxConns int, idleTimeout time.Duration, diags sdk.Diagnostics) sdk.Diagnostics {
	if maxConns < 1 || maxConns > MaxMaxConnections {
		diags = diags.Errorf("max_connections", fmt.Sprintf("Use a number from 1 to %d; the default, %d, suits most servers.", MaxMaxConnections, DefaultMaxConnections), "Max connections %d is out of range", maxConns)
	}
	if idleTimeout <= 0 {
		diags = diags.Errorf("idle_timeout", "Use a positive duration, such as \"30s\".", "Idle timeout must be positive")
	}
	return diags
}
