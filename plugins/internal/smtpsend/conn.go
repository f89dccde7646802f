package smtpsend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// MaxReplyBytes bounds what the sender reads from the server since it
// last wrote: a reply (greeting, EHLO answer, the answer to one command)
// longer than this fails the attempt as temporary, and the rest of it is
// not read. Real replies are a few hundred bytes; the largest, an EHLO
// answer, a few kilobytes. Over TLS the bound counts the encrypted bytes.
const MaxReplyBytes = 64 << 10

// DefaultGreetingTimeout is Options.GreetingTimeout when it is not set.
const DefaultGreetingTimeout = 3 * time.Second

// Errors of the connection itself, before and beside the server's replies.
var (
	// errReplyTooLarge is what reading a reply longer than MaxReplyBytes
	// returns; go-mail does not wrap it, so connState.tooLarge says it
	// happened.
	errReplyTooLarge = fmt.Errorf("the server's reply is longer than %d KiB: it was cut there and not read further", MaxReplyBytes>>10)
	// errImplicitTLS: the server sent no greeting but answers a TLS
	// handshake, or sent TLS bytes instead of a greeting.
	errImplicitTLS = errors.New("the server sent no SMTP greeting but speaks TLS on this port: it expects TLS from the first byte")
	// errNoGreeting: the server accepted the connection and sent nothing.
	errNoGreeting = errors.New("the server accepted the connection but sent no SMTP greeting")
)

// connState is what one Send or Check knows of its connection: the
// connection under go-mail, to close it and to ask whether a reply was
// cut.
type connState struct {
	mu   sync.Mutex
	conn *capConn
}

// tooLarge reports whether a reply on the connection was cut.
func (st *connState) tooLarge() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.conn != nil && st.conn.wasCut()
}

// close closes the connection, if there is one. go-mail leaves it open
// when QUIT fails.
func (st *connState) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conn != nil {
		_ = st.conn.Close()
	}
}

// dialer returns go-mail's dial function for one connection: TCP, bounded
// replies, TLS from the first byte for SecurityTLS, and for the others a
// greeting awaited here, so that a port that speaks TLS from the first
// byte is told apart from a silent server within GreetingTimeout.
func (s *Sender) dialer(st *connState) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &capConn{Conn: raw, max: MaxReplyBytes}
		st.mu.Lock()
		st.conn = cc
		st.mu.Unlock()
		if s.opts.Security == SecurityTLS {
			tc := tls.Client(cc, s.tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			return tc, nil
		}
		conn, err := s.awaitGreeting(ctx, cc, network, addr)
		if err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// awaitGreeting reads the first bytes of the server's greeting from c.
// When nothing comes within GreetingTimeout, it probes addr on a second
// connection: a server that answers a TLS handshake there wants
// security = "tls", and the attempt ends at once; else it waits on for the
// greeting until ctx ends. The bytes read are given back by the returned
// connection.
func (s *Sender) awaitGreeting(ctx context.Context, c net.Conn, network, addr string) (net.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.opts.Timeout)
	}
	// Ending ctx ends a read in progress.
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 512)
	start := time.Now()
	first := start.Add(s.opts.GreetingTimeout)
	if first.After(deadline) {
		first = deadline
	}
	_ = c.SetReadDeadline(first)
	n, err := c.Read(buf)
	if n == 0 && isTimeout(err) && ctx.Err() == nil && time.Now().Before(deadline) {
		if s.speaksTLS(ctx, network, addr) {
			return nil, errImplicitTLS
		}
		_ = c.SetReadDeadline(deadline)
		n, err = c.Read(buf)
	}
	stop()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	_ = c.SetReadDeadline(time.Time{})
	if n == 0 {
		if isTimeout(err) || ctx.Err() != nil { // the wait ran out
			return nil, fmt.Errorf("%w in %v", errNoGreeting, time.Since(start).Round(time.Millisecond))
		}
		return nil, err
	}
	if looksLikeTLS(buf[:n]) {
		return nil, errImplicitTLS
	}
	return &prefixConn{Conn: c, prefix: buf[:n]}, nil
}

// speaksTLS reports whether addr answers a TLS ClientHello with TLS (a
// ServerHello or an alert), within GreetingTimeout. Nothing is sent over
// the connection but the handshake, and nothing it says is trusted.
func (s *Sender) speaksTLS(ctx context.Context, network, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, s.opts.GreetingTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return false
	}
	defer raw.Close()
	sn := &sniffConn{Conn: raw}
	// A probe: it only looks at the form of the answer, so the
	// certificate does not matter.
	tc := tls.Client(sn, &tls.Config{ServerName: s.opts.Host, InsecureSkipVerify: true}) //nolint:gosec // see above
	_ = tc.HandshakeContext(ctx)
	return looksLikeTLS(sn.head)
}

// looksLikeTLS reports whether b starts like a TLS record: a handshake
// (22) or an alert (21), then major version 3.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 2 && (b[0] == 22 || b[0] == 21) && b[1] == 3
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// capConn fails a read once the server has sent max bytes since the
// client last wrote; once cut, every later read fails too.
type capConn struct {
	net.Conn
	max int

	mu  sync.Mutex
	n   int // bytes read since the last write
	cut bool
}

func (c *capConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	room := c.max - c.n
	if c.cut || room <= 0 {
		c.cut = true
		c.mu.Unlock()
		return 0, errReplyTooLarge
	}
	c.mu.Unlock()
	if len(p) > room {
		p = p[:room]
	}
	k, err := c.Conn.Read(p)
	c.mu.Lock()
	c.n += k
	c.mu.Unlock()
	return k, err
}

func (c *capConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n = 0
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *capConn) wasCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// prefixConn gives back prefix before reading on from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// sniffConn keeps the first bytes the server sends.
type sniffConn struct {
	net.Conn
	head []byte
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if len(c.head) < 2 {
		c.head = append(c.head, p[:min(n, 2-len(c.head))]...)
	}
	return n, err
}
