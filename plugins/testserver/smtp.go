package testserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Defaults applied by [Start] to zero [Options] fields.
const (
	DefaultMaxLineLength   = 64 << 10 // 64 KiB: room for long OAuth tokens in AUTH lines
	DefaultMaxMessageBytes = 50 << 20 // 50 MiB
	DefaultDomain          = "localhost"
)

// Stage names the point of an SMTP transaction at which a [Fault] is
// consulted.
type Stage int

// The stages at which a [Fault] is consulted.
const (
	// StageMail: on MAIL FROM, after the authentication check. The reply
	// replaces the 250 to MAIL.
	StageMail Stage = iota + 1
	// StageRcpt: on each RCPT TO. The reply replaces the 250 to that RCPT.
	StageRcpt
	// StageData: after the message data has been received in full (go-smtp
	// has already sent 354). The reply replaces the final 250 and the
	// message is not recorded.
	StageData
	// StageAuth: on AUTH with a mechanism the server offers, before the
	// first challenge. The reply ends the AUTH exchange.
	StageAuth
)

// String returns the SMTP command of the stage ("MAIL", "RCPT", "DATA",
// "AUTH").
func (s Stage) String() string {
	switch s {
	case StageMail:
		return "MAIL"
	case StageRcpt:
		return "RCPT"
	case StageData:
		return "DATA"
	case StageAuth:
		return "AUTH"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// Fault injects failures. It is called at each [Stage] with the 1-based
// number of the connection (as in [Received.Conn]) and the 1-based number of
// the message within the server's whole life. Every MAIL FROM that passes
// the authentication check takes the next message number, whether it then
// succeeds or not, so "msg == 1" means "the first attempt" and a retry is
// msg 2. At StageAuth, msg is 0.
//
// Returning nil lets the command proceed; returning an error makes the
// server reply with its code, enhanced code and message instead. After a 421
// reply the server closes the connection, as RFC 5321 requires, once any
// commands the client had already pipelined are answered.
//
// A Fault may be called from many connection goroutines at once and must be
// safe for concurrent use; it must not block.
type Fault func(stage Stage, conn int, msg int) *smtp.SMTPError

// Options configures a [Server]. The zero value is a plaintext server that
// accepts any mail without authentication.
type Options struct {
	// TLS is the server's TLS configuration, typically from
	// [CA.ServerTLSConfig]. Nil: no TLS. With Implicit false, STARTTLS is
	// offered. The configuration is cloned by Start.
	TLS *tls.Config
	// Implicit makes the listener speak TLS from the first byte (port 465
	// style, "SMTPS"). It requires TLS.
	Implicit bool
	// Users maps user names to passwords. When non-empty, PLAIN, LOGIN and
	// CRAM-MD5 are offered and checked against it. Wrong credentials get
	// "535 5.7.8 Authentication credentials invalid".
	//
	// Whenever any mechanism is offered (Users or Mechanisms non-empty),
	// authentication is required: MAIL before a successful AUTH gets
	// "530 5.7.0 Authentication required".
	Users map[string]string
	// AllowInsecureAuth offers AUTH on a connection that is not TLS
	// (go-smtp's Server.AllowInsecureAuth). Without it, AUTH is only
	// advertised and accepted over implicit TLS or after STARTTLS.
	AllowInsecureAuth bool
	// Mechanisms adds SASL mechanisms, or replaces built-in ones, by
	// mechanism name (case-insensitive). The function is called once per
	// AUTH command with that connection's [AuthConn]; the mechanism calls
	// [AuthConn.SetUser] when the client has proved its identity. An error
	// from the mechanism's Next is sent as is when it is (or wraps) an
	// *smtp.SMTPError, otherwise as 535 5.7.8.
	Mechanisms map[string]func(c *AuthConn) sasl.Server
	// MaxLineLength is the longest command line accepted, in bytes.
	// 0 means DefaultMaxLineLength (64 KiB); negative means no limit.
	MaxLineLength int
	// MaxMessageBytes is the largest message accepted, in bytes; it is
	// advertised with SIZE. 0 means DefaultMaxMessageBytes (50 MiB);
	// negative means no limit.
	MaxMessageBytes int64
	// Fault, if set, injects failures; see [Fault] and [Server.SetFault].
	Fault Fault
	// RejectRcpt, if set, is asked about each RCPT TO forward path (after
	// the Fault); a non-nil reply refuses that recipient. It must be
	// safe for concurrent use.
	RejectRcpt func(to string) *smtp.SMTPError
	// Domain is the server's name in its greeting and CRAM-MD5 challenges.
	// Empty means DefaultDomain ("localhost").
	Domain string
	// Debug, if set, receives a copy of all protocol traffic and go-smtp's
	// internal error log. It must be safe for concurrent use.
	Debug io.Writer
	// Addr is the 127.0.0.1 address to listen on, such as the Addr of a
	// server that was closed, to bring a mail server "back up" where a
	// client expects it. Empty means a port the kernel picks. Only
	// loopback addresses are accepted.
	Addr string
}

// Received is one message the server accepted.
type Received struct {
	// From is the MAIL FROM reverse path, without angle brackets.
	From string
	// To holds the RCPT TO forward paths, in order, without angle brackets.
	To []string
	// Data is the message exactly as received in DATA (or BDAT), after
	// dot-unstuffing, without the terminating ".".
	Data []byte
	// Conn is the 1-based number of the connection that delivered it.
	Conn int
	// Msg is the message number that was passed to the [Fault].
	Msg int
	// TLS reports whether the connection was TLS (implicit or after
	// STARTTLS) when the message was sent.
	TLS bool
	// User is the authenticated identity, "" if the client did not
	// authenticate.
	User string
	// Mechanism is the SASL mechanism used to authenticate, "" if none.
	Mechanism string
}

func (r Received) clone() Received {
	r.To = slices.Clone(r.To)
	r.Data = slices.Clone(r.Data)
	return r
}

// Server is a real SMTP server (emersion/go-smtp) listening on 127.0.0.1 that
// records what it receives. All its methods are safe for concurrent use.
type Server struct {
	srv       *smtp.Server
	ln        *trackingListener
	addr      *net.TCPAddr
	serveDone chan struct{}

	domain       string
	users        map[string]string
	mechs        map[string]func(*AuthConn) sasl.Server
	mechNames    []string
	authRequired bool

	conns atomic.Int64

	mu      sync.Mutex
	fault   Fault
	reject  func(to string) *smtp.SMTPError
	msgSeq  int
	msgs    []Received
	changed chan struct{} // closed and replaced whenever msgs grows or the server closes
	closed  bool
	live    map[*trackedConn]struct{}
	peak    int // most connections open at once

	closeOnce sync.Once
	closeErr  error
}

// Start starts a server on 127.0.0.1 with a kernel-chosen port. It returns
// once the server accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Implicit && opts.TLS == nil {
		return nil, errors.New("testserver: implicit TLS requires a TLS config")
	}
	s := &Server{
		domain:    opts.Domain,
		users:     make(map[string]string, len(opts.Users)),
		mechs:     make(map[string]func(*AuthConn) sasl.Server),
		serveDone: make(chan struct{}),
		changed:   make(chan struct{}),
		live:      make(map[*trackedConn]struct{}),
		fault:     opts.Fault,
		reject:    opts.RejectRcpt,
	}
	if s.domain == "" {
		s.domain = DefaultDomain
	}
	for u, p := range opts.Users {
		s.users[u] = p
	}
	if len(s.users) > 0 {
		for _, m := range builtinMechanisms {
			newMech := m.new
			s.mechs[m.name] = func(c *AuthConn) sasl.Server { return newMech(c, s.domain) }
			s.mechNames = append(s.mechNames, m.name)
		}
	}
	var extra []string
	for name, newMech := range opts.Mechanisms {
		upper := strings.ToUpper(name)
		if upper == "" || strings.ContainsAny(upper, " \t\r\n") {
			return nil, fmt.Errorf("testserver: invalid mechanism name %q", name)
		}
		if newMech == nil {
			return nil, fmt.Errorf("testserver: mechanism %q has no constructor", name)
		}
		if _, ok := s.mechs[upper]; !ok {
			extra = append(extra, upper)
		}
		s.mechs[upper] = newMech
	}
	sort.Strings(extra)
	s.mechNames = append(s.mechNames, extra...)
	s.authRequired = len(s.mechNames) > 0

	var tlsConfig *tls.Config
	if opts.TLS != nil {
		tlsConfig = opts.TLS.Clone()
	}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.domain
	srv.TLSConfig = tlsConfig
	srv.AllowInsecureAuth = opts.AllowInsecureAuth
	switch {
	case opts.MaxLineLength == 0:
		srv.MaxLineLength = DefaultMaxLineLength
	case opts.MaxLineLength < 0:
		srv.MaxLineLength = 0
	default:
		srv.MaxLineLength = opts.MaxLineLength
	}
	switch {
	case opts.MaxMessageBytes == 0:
		srv.MaxMessageBytes = DefaultMaxMessageBytes
	case opts.MaxMessageBytes < 0:
		srv.MaxMessageBytes = 0
	default:
		srv.MaxMessageBytes = opts.MaxMessageBytes
	}
	if opts.Debug != nil {
		srv.Debug = opts.Debug
		srv.ErrorLog = log.New(opts.Debug, "testserver: ", log.LstdFlags)
	} else {
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	s.srv = srv

	addr := "127.0.0.1:0"
	if opts.Addr != "" {
		host, _, err := net.SplitHostPort(opts.Addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("testserver: Addr %q is not a loopback host:port", opts.Addr)
		}
		addr = opts.Addr
	}
	base, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testserver: listen: %w", err)
	}
	s.addr = base.Addr().(*net.TCPAddr)
	s.ln = &trackingListener{Listener: base, srv: s}
	var ln net.Listener = s.ln
	if opts.Implicit {
		ln = tls.NewListener(s.ln, tlsConfig)
	}
	go func() {
		defer close(s.serveDone)
		// Serve returns an error once the listener is closed; Close
		// is the only way that happens, so the error carries nothing.
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// StartT is [Start] for tests: it calls t.Fatal if the server cannot start
// and registers [Server.Close] with t.Cleanup.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Addr returns the listening address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr.String() }

// Host returns the listening host, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port returns the listening TCP port.
func (s *Server) Port() int { return s.addr.Port }

// Close stops the server: it closes the listener and every open connection
// and returns only after all of the server's goroutines have ended. Close
// is idempotent; every call returns the result of the first.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()

		err := s.ln.Close()
		// Once Serve has returned no connection can be accepted, so
		// the set of live connections is final and go-smtp's handler
		// WaitGroup can no longer grow.
		<-s.serveDone
		s.mu.Lock()
		live := make([]*trackedConn, 0, len(s.live))
		for c := range s.live {
			live = append(live, c)
		}
		s.mu.Unlock()
		for _, c := range live {
			_ = c.Close()
		}
		// Shutdown waits for every connection handler to return. Its
		// only error is from closing the (already closed) listener.
		_ = s.srv.Shutdown(context.Background())
		if err != nil {
			s.closeErr = fmt.Errorf("testserver: close listener: %w", err)
		}
	})
	return s.closeErr
}

// SetFault replaces the fault injector; nil removes it. It takes effect for
// the next command on every connection.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Messages returns a deep copy of the messages received since the start or
// the last [Server.Reset], in the order they were accepted.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyMessagesLocked()
}

func (s *Server) copyMessagesLocked() []Received {
	out := make([]Received, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// Wait blocks until at least n messages have been received (since the start
// or the last [Server.Reset]) and returns a copy of all of them. If ctx ends
// or the server is closed first, it returns the messages received so far and
// an error; on ctx's end that error wraps ctx.Err().
func (s *Server) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := s.copyMessagesLocked()
			s.mu.Unlock()
			return out, nil
		}
		if s.closed {
			out := s.copyMessagesLocked()
			s.mu.Unlock()
			return out, fmt.Errorf("testserver: server closed with %d of %d messages", len(out), n)
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			out := s.Messages()
			return out, fmt.Errorf("testserver: waiting for %d messages, got %d: %w", n, len(out), ctx.Err())
		}
	}
}

// Connections returns the number of TCP connections accepted so far,
// including ones whose TLS handshake then failed. [Server.Reset] does not
// change it.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Reset forgets the received messages. The connection count and the message
// numbering seen by the [Fault] continue.
func (s *Server) Reset() {
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
}

func (s *Server) currentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

func (s *Server) nextMsg() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgSeq++
	return s.msgSeq
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// trackingListener numbers accepted connections and keeps them in
// Server.live until they are closed.
type trackingListener struct {
	net.Listener
	srv       *Server
	closeOnce sync.Once
	closeErr  error
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, srv: l.srv, id: int(l.srv.conns.Add(1))}
	l.srv.mu.Lock()
	l.srv.live[tc] = struct{}{}
	l.srv.peak = max(l.srv.peak, len(l.srv.live))
	l.srv.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// trackedConn is an accepted TCP connection with its number. go-smtp sees
// it directly (plaintext) or under a *tls.Conn (implicit TLS, STARTTLS).
type trackedConn struct {
	net.Conn
	srv *Server
	id  int

	// hangup makes the next read report end of stream, so go-smtp closes
	// the connection right after the reply it is about to write.
	hangup atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.hangup.Load() {
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.srv.mu.Lock()
		delete(c.srv.live, c)
		c.srv.mu.Unlock()
	})
	return c.closeErr
}

// unwrapConn finds the trackedConn under what go-smtp holds.
func unwrapConn(c net.Conn) *trackedConn {
	for c != nil {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// session is the go-smtp Session of one connection (go-smtp makes a new one
// after STARTTLS). go-smtp calls it from the connection's goroutine only.
type session struct {
	srv *Server
	c   *smtp.Conn
	tc  *trackedConn

	authed bool
	user   string
	mech   string

	msg  int
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	tc := unwrapConn(c.Conn())
	if tc == nil {
		return nil, &smtp.SMTPError{
			Code:         421,
			EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message:      "testserver: unknown connection",
		}
	}
	return &session{srv: s, c: c, tc: tc}, nil
}

func (s *session) isTLS() bool {
	_, ok := s.c.TLSConnectionState()
	return ok
}

// fault consults the server's Fault. The result is returned as a plain nil
// error when there is no fault, never as a typed nil.
func (s *session) fault(stage Stage, msg int) error {
	f := s.srv.currentFault()
	if f == nil {
		return nil
	}
	e := f(stage, s.tc.id, msg)
	if e == nil {
		return nil
	}
	if e.Code == 421 {
		s.tc.hangup.Store(true)
	}
	return e
}

func (s *session) authenticated(user, mech string) {
	s.authed = true
	s.user = user
	s.mech = mech
}

func (s *session) AuthMechanisms() []string {
	return s.srv.mechNames
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	newMech, ok := s.srv.mechs[strings.ToUpper(mech)]
	if !ok {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if err := s.fault(StageAuth, 0); err != nil {
		return nil, err
	}
	ac := &AuthConn{conn: s.tc.id, tls: s.isTLS(), users: s.srv.users}
	inner := newMech(ac)
	if inner == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &authServer{inner: inner, ac: ac, sess: s, mech: strings.ToUpper(mech)}, nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.authRequired && !s.authed {
		return errAuthRequired()
	}
	msg := s.srv.nextMsg()
	if err := s.fault(StageMail, msg); err != nil {
		return err
	}
	s.msg = msg
	s.from = from
	s.to = nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.fault(StageRcpt, s.msg); err != nil {
		return err
	}
	if s.srv.reject != nil {
		if e := s.srv.reject(to); e != nil {
			return e
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		// go-smtp's size limit error is an *smtp.SMTPError (552); a
		// read error means the connection is gone.
		return err
	}
	if err := s.fault(StageData, s.msg); err != nil {
		return err
	}
	s.srv.record(Received{
		From:      s.from,
		To:        slices.Clone(s.to),
		Data:      data,
		Conn:      s.tc.id,
		Msg:       s.msg,
		TLS:       s.isTLS(),
		User:      s.user,
		Mechanism: s.mech,
	})
	return nil
}

func (s *session) Reset() {
	s.msg = 0
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }
