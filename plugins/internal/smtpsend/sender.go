package smtpsend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
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

	// UserAgent is set as the User-Agent and X-Mailer header.
	UserAgent string
	// Remedies, when set, is consulted before the generic remedies.
	Remedies []Remedy
}

// Sender sends messages through one SMTP server. It is safe for
// concurrent use; each Send or Check opens its own connection.
type Sender struct {
	opts      Options
	tlsConfig *tls.Config
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
	tc, err := TLSConfig(opts.Host, opts.CAFile, opts.TLSSkipVerify)
	if err != nil {
		return nil, err
	}
	return &Sender{opts: opts, tlsConfig: tc}, nil
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

// Send delivers msgs over one connection. A failure to connect, start TLS
// or log in fails the whole batch (the error); after that each message has
// its own result.
func (s *Sender) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	built := make([]*gomail.Msg, len(msgs))
	results := make([]sdk.Result, len(msgs))
	var toSend []*gomail.Msg
	for i, m := range msgs {
		results[i].MessageID = m.ID
		b, err := m.Build(s.opts.UserAgent)
		if err != nil {
			results[i].Err = sdk.PermanentError(fmt.Errorf("build message: %w", err), "", "The agent produced a message that cannot be sent; report this as a bug.")
			continue
		}
		built[i] = b
		toSend = append(toSend, b)
	}
	if len(toSend) == 0 {
		return results, nil
	}

	st := &connState{}
	defer st.close()
	gc, err := s.client(ctx, st)
	if err != nil {
		return nil, s.classify(err)
	}
	conn, err := gc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, s.classifyOn(st, err)
	}
	// go-mail bounds each command by Timeout but does not watch ctx after
	// the dial: closing the connection when ctx ends aborts the batch.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	batchErr := gc.SendWithSMTPClient(conn, toSend...) // per-message errors are read below
	_ = gc.CloseWithSMTPClient(conn)

	for i, b := range built {
		switch {
		case b == nil:
		case b.IsDelivered():
			results[i].Receipt = receipt(b.ServerResponse())
		case b.HasSendError():
			results[i].Err = s.classifyOn(st, b.SendError())
		case ctx.Err() != nil:
			results[i].Err = sdk.TemporaryError(ctx.Err(), "", "")
		default:
			cause := batchErr
			if cause == nil {
				cause = errors.New("message not sent")
			}
			if st.tooLarge() {
				results[i].Err = s.classifyOn(st, cause)
				continue
			}
			results[i].Err = sdk.TemporaryError(cause, "", "The connection ended before this message was sent; Tocsin retries.")
		}
	}
	return results, nil
}

// Check connects, starts TLS, logs in and quits, sending nothing.
func (s *Sender) Check(ctx context.Context) error {
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
