package smtpsend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The values of Options.Security.
const (
	SecurityNone     = "none"     // plain SMTP, no TLS at all
	SecuritySTARTTLS = "starttls" // plain connect, then STARTTLS, which must succeed
	SecurityTLS      = "tls"      // TLS from the first byte (port 465)
)

// DefaultPort returns the usual port for a security mode.
func DefaultPort(security string) int {
	switch security {
	case SecurityNone:
		return 25
	case SecurityTLS:
		return 465
	default:
		return 587
	}
}

// Options says how to reach and log in to an SMTP server.
type Options struct {
	Host     string
	Port     int
	Security string // SecurityNone, SecuritySTARTTLS or SecurityTLS
	// CAFile is a PEM file of CA certificates trusted in addition to the
	// system's.
	CAFile string
	// TLSSkipVerify turns off certificate verification. Never by default.
	TLSSkipVerify bool
	// HELO is the name sent in EHLO; empty means go-mail's default.
	HELO string
	// Timeout bounds the connection and each SMTP command.
	Timeout time.Duration
	// GreetingTimeout is how long to wait for the server's greeting
	// before checking, on a second connection, whether the port speaks
	// TLS from the first byte (port 465 with security = "starttls"); a
	// server that does not goes on being waited for, up to Timeout.
	// 0 means DefaultGreetingTimeout.
	GreetingTimeout time.Duration

	// Auth is the SASL mechanism; gomail.SMTPAuthNoAuth for none.
	Auth gomail.SMTPAuthType
	// Username is the login name.
	Username string
	// Secret returns the password or access token at the time of use, so
	// token-based transports can refresh it.
	Secret func(ctx context.Context) (string, error)

	// MaxConnections bounds the connections open at once, in use or
	// idle; 0 means DefaultMaxConnections.
	MaxConnections int
	// IdleTimeout is how long a connection may wait unused before it is
	// closed; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration

	// UserAgent is set as the User-Agent and X-Mailer header.
	UserAgent string
	// Remedies, when set, is consulted before the generic remedies.
	Remedies []Remedy
}

// Sender sends messages through one SMTP server over a pool of logged-in
// connections, at most Options.MaxConnections open at once, reused by
// later Sends and closed after Options.IdleTimeout unused. It is safe for
// concurrent use. Close closes the pool.
type Sender struct {
	opts      Options
	tlsConfig *tls.Config
	pool      *pool
}

// New checks opts and returns a Sender. It reads CAFile now, so a missing
// or malformed file is reported at configure time rather than at send time.
func New(opts Options) (*Sender, error) {
	if opts.Host == "" {
		return nil, errors.New("no host")
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort(opts.Security)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.GreetingTimeout <= 0 {
		opts.GreetingTimeout = DefaultGreetingTimeout
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	tc, err := TLSConfig(opts.Host, opts.CAFile, opts.TLSSkipVerify)
	if err != nil {
		return nil, err
	}
	return &Sender{opts: opts, tlsConfig: tc, pool: newPool(opts.MaxConnections, opts.IdleTimeout, opts.Timeout)}, nil
}

// Close closes the idle connections, with a QUIT, and the others as soon
// as the Send using them is done with them. A Sender still sends after
// Close, but keeps no connection. Close always returns nil.
func (s *Sender) Close() error {
	s.pool.close()
	return nil
}

// TLSConfig returns the client TLS configuration for host: the system's
// CAs plus those in caFile, TLS 1.2 at least.
func TLSConfig(host, caFile string, skipVerify bool) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // the operator's explicit choice, warned about at configure time
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// client builds a go-mail client for one connection, which st keeps.
func (s *Sender) client(ctx context.Context, st *connState) (*gomail.Client, error) {
	o := s.opts
	opts := []gomail.Option{
		gomail.WithPort(o.Port),
		gomail.WithTimeout(o.Timeout),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(s.dialer(st)),
		// A pooled connection is used at once or found broken by the
		// next command (see retryable), so no NOOP before each message;
		// and a finished transaction needs no RSET before the next
		// (go-mail still resets after a refused MAIL or RCPT, and
		// sendOne after a refused DATA).
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch o.Security {
	case SecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case SecurityTLS:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if o.HELO != "" {
		opts = append(opts, gomail.WithHELO(o.HELO))
	}
	if o.Auth != "" && o.Auth != gomail.SMTPAuthNoAuth {
		secret := ""
		if o.Secret != nil {
			var err error
			if secret, err = o.Secret(ctx); err != nil {
				return nil, err
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(o.Auth), gomail.WithUsername(o.Username), gomail.WithPassword(secret))
	}
	c, err := gomail.NewClient(o.Host, opts...)
	if err != nil {
		return nil, sdk.PermanentError(fmt.Errorf("smtp client: %w", err), "", "Check the transport's SMTP settings.")
	}
	return c, nil
}

// Send delivers msgs over the pool's connections, several at once when
// there are many messages (another one for every messagesPerConnection of
// them, up to MaxConnections): idle ones first, new ones dialled within
// the pool's bound. When no
// connection can be had (connect, TLS or login failed) before any message
// was tried, that fails the whole batch (the error); otherwise each
// message has its own result, in the order of msgs. A message whose
// connection broke before the server took its DATA is tried once more on
// another connection; one that broke later is not, as the server may have
// kept it.
//
// A Send of no messages sends nothing and always returns no results and
// no error; it is the agent's warm-up (see Warm).
func (s *Sender) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	if len(msgs) == 0 {
		s.Warm(ctx)
		return []sdk.Result{}, nil
	}
	b := &batch{msgs: make([]*gomail.Msg, len(msgs)), tries: make([]int, len(msgs)), errs: make([]error, len(msgs))}
	results := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		results[i].MessageID = m.ID
		gm, err := m.Build(s.opts.UserAgent)
		if err != nil {
			results[i].Err = sdk.PermanentError(fmt.Errorf("build message: %w", err), "", "The agent produced a message that cannot be sent; report this as a bug.")
			continue
		}
		b.msgs[i] = gm
		b.queue = append(b.queue, i)
	}
	if len(b.queue) == 0 {
		return results, nil
	}

	workers := min(s.opts.MaxConnections, (len(b.queue)+messagesPerConnection-1)/messagesPerConnection)
	var wg sync.WaitGroup
	// With idle connections in the pool, the first worker picks its
	// connection (an idle one) before the others look for idle ones, so
	// that a batch for one connection takes the one that is open rather
	// than dialling another. With none, every worker dials at once, as a
	// sender of its own would: waiting for the first login would hold
	// the others back by one login's time.
	//
	// The slots of all the workers are asked for at once, so that a Send
	// that arrives later gets connections only as this one runs out of
	// messages (see pool).
	picked := make(chan struct{})
	first := sync.OnceFunc(func() { close(picked) })
	if !s.pool.hasIdle() {
		first()
	}
	grants := s.pool.request(workers)
	wg.Go(func() { s.work(ctx, b, grants[0], first) })
	for _, g := range grants[1:] {
		wg.Go(func() {
			<-picked
			s.work(ctx, b, g, nil)
		})
	}
	wg.Wait()

	if !b.tried && b.connErr != nil {
		return nil, s.classifyOn(b.connSt, b.connErr)
	}
	if !b.tried && ctx.Err() != nil {
		return nil, s.classify(ctx.Err())
	}
	for i, gm := range b.msgs {
		switch {
		case gm == nil:
		case gm.IsDelivered():
			results[i].Receipt = receipt(gm.ServerResponse())
		case b.errs[i] != nil:
			results[i].Err = b.errs[i]
		case ctx.Err() != nil:
			results[i].Err = sdk.TemporaryError(ctx.Err(), "", "")
		case b.connErr != nil:
			results[i].Err = s.classifyOn(b.connSt, b.connErr)
		default:
			results[i].Err = sdk.TemporaryError(errors.New("message not sent"), "", "The connection ended before this message was sent; Tocsin retries.")
		}
	}
	return results, nil
}

// batch is the shared state of one Send's workers.
type batch struct {
	msgs []*gomail.Msg // nil where the message did not build

	mu      sync.Mutex
	queue   []int      // indexes of the messages still to send
	tries   []int      // attempts per message
	errs    []error    // final error per message, classified
	tried   bool       // some message was tried on a connection
	connErr error      // the last failure to get a connection
	connSt  *connState // the connection of connErr
}

// next takes the next message to send, if any.
func (b *batch) next() (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return 0, false
	}
	i := b.queue[0]
	b.queue = b.queue[1:]
	b.tries[i]++
	b.tried = true
	return i, true
}

// work sends messages of b, one at a time, over one pooled connection,
// replacing it when it breaks, until none is left, ctx ends or no
// connection can be had. It waits for its slot, g, first. The first
// worker of a Send calls picked once it has a connection, or has none, so
// that it is the one to take an idle connection when there is only one.
func (s *Sender) work(ctx context.Context, b *batch, g *grant, picked func()) {
	if picked != nil {
		defer picked()
	}
	if err := s.pool.wait(ctx, g); err != nil {
		b.mu.Lock()
		b.connErr, b.connSt = err, &connState{}
		b.mu.Unlock()
		return
	}
	defer s.pool.release()
	var c *pconn
	var stop func() bool // ends the watch on ctx for c
	defer func() {
		if c != nil && stop() {
			s.pool.put(c)
		} else if c != nil {
			s.pool.drop(c)
		}
	}()
	retry := -1 // a message to try again on a new connection
	for ctx.Err() == nil {
		if c == nil {
			// Peek before dialling: another worker may have taken the
			// last message meanwhile.
			b.mu.Lock()
			empty := len(b.queue) == 0
			b.mu.Unlock()
			if empty && retry < 0 {
				return
			}
			// An idle connection, or a new one; a message whose
			// connection broke goes out on a new one: idle ones as old
			// as that one may be dead too.
			var st *connState
			var err error
			if c, st, err = s.get(ctx, retry >= 0); err != nil {
				b.mu.Lock()
				b.connErr, b.connSt = err, st
				b.mu.Unlock()
				return
			}
			if picked != nil {
				picked()
			}
			// go-mail bounds each command by Timeout but does not
			// watch ctx: closing the connection when ctx ends aborts
			// the command in progress.
			cc := c
			stop = context.AfterFunc(ctx, func() { cc.st.close() })
		}
		i := retry
		if i >= 0 {
			retry = -1
			b.mu.Lock()
			b.tries[i]++
			b.mu.Unlock()
		} else {
			var ok bool
			if i, ok = b.next(); !ok {
				return
			}
		}
		again, broken := s.sendOne(ctx, c, b, i)
		if broken {
			stop()
			s.pool.drop(c)
			c = nil
		}
		if again {
			retry = i
		}
	}
}

// get returns an idle connection of the pool or, when there is none or
// fresh is set, a new one; and the state of the connection tried when it
// fails.
func (s *Sender) get(ctx context.Context, fresh bool) (*pconn, *connState, error) {
	if fresh {
		s.pool.reserve()
	} else if c := s.pool.take(); c != nil {
		return c, c.st, nil
	}
	return s.dial(ctx)
}

// Warm gets a connection ready for messages about to come: when the pool
// has a slot free and no idle connection, it dials one (connect, TLS,
// login) and leaves it idle in the pool, where the next Send takes it. It
// sends nothing, never exceeds MaxConnections, and returns when the
// connection is ready, or the dial failed (the Send that follows tries
// again and reports why), or ctx ended. The agent calls it, as a Send of
// no messages, while it stores notifications in its outbox, so that the
// login is over by the time they may be sent; several at once dial one
// connection each.
func (s *Sender) Warm(ctx context.Context) {
	if !s.pool.tryAcquire() {
		return // every slot is in use: those connections carry what comes
	}
	defer s.pool.release()
	if !s.pool.reserveIfNoIdle() {
		return
	}
	c, _, err := s.dial(ctx)
	if err != nil {
		return
	}
	s.pool.put(c)
}

// dial dials a new connection, for which room is reserved in the pool,
// and gives the room back when it fails; it returns the state of the
// connection tried when it fails.
func (s *Sender) dial(ctx context.Context) (*pconn, *connState, error) {
	st := &connState{}
	gc, err := s.client(ctx, st)
	if err != nil {
		s.pool.drop(nil)
		return nil, st, err
	}
	sc, err := gc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		st.close()
		s.pool.drop(nil)
		return nil, st, err
	}
	return &pconn{gc: gc, sc: sc, st: st}, st, nil
}

// sendOne sends message i of b over c and records its error, unless c
// broke before the server took its DATA and the message may be tried
// again (again). It reports whether c is broken.
func (s *Sender) sendOne(ctx context.Context, c *pconn, b *batch, i int) (again, broken bool) {
	gm := b.msgs[i]
	err := c.gc.SendWithSMTPClient(c.sc, gm)
	if gm.IsDelivered() {
		return false, false
	}
	if err == nil {
		err = errors.New("message not sent")
	}
	var se *gomail.SendError
	reason := gomail.ErrConnCheck
	code := 0
	if errors.As(err, &se) {
		err, reason, code = se, se.Reason, se.ErrorCode()
	}
	switch reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		// The message, not the connection.
	case gomail.ErrSMTPData:
		// DATA refused: the transaction is still open.
		broken = code == 0 || code == 421 || c.st.tooLarge() || c.sc.Reset() != nil
	default:
		broken = code == 0 || code == 421 || c.st.tooLarge()
	}
	if ctx.Err() != nil && code == 0 {
		// Most likely the connection was closed because ctx ended:
		// say so.
		b.mu.Lock()
		b.errs[i] = sdk.TemporaryError(ctx.Err(), "", "")
		b.mu.Unlock()
		return false, true
	}
	// A connection that went away (or was being closed, 421) is
	// worth another try; one that sent a reply too large is not.
	b.mu.Lock()
	retry := broken && !c.st.tooLarge() && b.tries[i] < 2 && beforeData(reason)
	b.mu.Unlock()
	if retry {
		return true, true
	}
	de := s.classifyOn(c.st, err)
	b.mu.Lock()
	b.errs[i] = de
	b.mu.Unlock()
	return false, broken
}

// beforeData reports whether a send that failed for reason failed before
// the server could have taken the message, so that sending it again
// cannot deliver it twice.
func beforeData(reason gomail.SendErrReason) bool {
	switch reason {
	case gomail.ErrConnCheck, gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData:
		return true
	}
	return false
}

// Check connects, starts TLS, logs in and quits, sending nothing. It
// always uses a new connection, which counts against MaxConnections while
// it is open (an idle one is closed to make room).
func (s *Sender) Check(ctx context.Context) error {
	if err := s.pool.acquire(ctx); err != nil {
		return s.classify(err)
	}
	defer s.pool.release()
	defer s.pool.reserveFresh()()
	st := &connState{}
	defer st.close()
	gc, err := s.client(ctx, st)
	if err != nil {
		return s.classify(err)
	}
	conn, err := gc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.classifyOn(st, err)
	}
	if err := gc.CloseWithSMTPClient(conn); err != nil {
		return s.classifyOn(st, err)
	}
	return nil
}

// receipt returns the server's reply to the end of DATA. go-mail keeps it
// without its reply code, which can only have been 250.
func receipt(resp string) string {
	resp = strings.TrimSpace(resp)
	if len(resp) >= 3 && resp[0] >= '2' && resp[0] <= '5' && resp[1] >= '0' && resp[1] <= '9' && resp[2] >= '0' && resp[2] <= '9' && (len(resp) == 3 || resp[3] == ' ') {
		return resp
	}
	return strings.TrimSpace("250 " + resp)
}
