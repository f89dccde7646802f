package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mode is how a test client reaches the server.
type mode int

const (
	modePlain mode = iota
	modeStartTLS
	modeImplicit
)

func (m mode) String() string {
	return [...]string{"plain", "starttls", "implicit"}[m]
}

// dial connects a net/smtp client (the standard library's client, an
// implementation independent of go-smtp) and closes it at the end of the
// test.
func dial(t *testing.T, s *Server, m mode, ca *CA) *netsmtp.Client {
	t.Helper()
	c, err := dialErr(s, m, ca)
	if err != nil {
		t.Fatalf("dial %v: %v", m, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(s *Server, m mode, ca *CA) (*netsmtp.Client, error) {
	if m == modeImplicit {
		conn, err := tls.Dial("tcp", s.Addr(), ca.ClientTLSConfig(s.Host()))
		if err != nil {
			return nil, err
		}
		c, err := netsmtp.NewClient(conn, s.Host())
		if err != nil {
			conn.Close()
			return nil, err
		}
		return c, nil
	}
	c, err := netsmtp.Dial(s.Addr())
	if err != nil {
		return nil, err
	}
	if m == modeStartTLS {
		if err := c.StartTLS(ca.ClientTLSConfig(s.Host())); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// sendOne runs one MAIL/RCPT/DATA transaction and reports the command that
// failed.
func sendOne(c *netsmtp.Client, from string, to []string, body string) (string, error) {
	if err := c.Mail(from); err != nil {
		return "MAIL", err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return "RCPT", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "DATA", err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return "DATA", err
	}
	if err := w.Close(); err != nil {
		return "DATA", err
	}
	return "", nil
}

// replyCode extracts the SMTP reply code from a net/smtp or go-smtp client
// error, 0 if there is none.
func replyCode(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func waitN(t *testing.T, s *Server, n int) []Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := s.Wait(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

const testBody = "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n"

func TestStartRejectsImplicitWithoutTLS(t *testing.T) {
	t.Parallel()
	if _, err := Start(Options{Implicit: true}); err == nil {
		t.Fatal("Start succeeded")
	}
	if _, err := Start(Options{Mechanisms: map[string]func(*AuthConn) sasl.Server{"X": nil}}); err == nil {
		t.Fatal("Start accepted a nil mechanism")
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{})
	if s.Host() != "127.0.0.1" {
		t.Errorf("Host %q, want 127.0.0.1", s.Host())
	}
	if s.Port() <= 0 {
		t.Errorf("Port %d", s.Port())
	}
	if want := fmt.Sprintf("127.0.0.1:%d", s.Port()); s.Addr() != want {
		t.Errorf("Addr %q, want %q", s.Addr(), want)
	}
}

func TestTransports(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tests := []struct {
		name          string
		opts          Options
		mode          mode
		wantTLS       bool
		wantSTARTTLS  bool // advertised after connecting (and after STARTTLS, if used)
		wantGreetName string
	}{
		{name: "plain", opts: Options{}, mode: modePlain},
		{name: "plain with TLS offered", opts: Options{TLS: serverTLS(t, ca)}, mode: modePlain, wantSTARTTLS: true},
		{name: "starttls", opts: Options{TLS: serverTLS(t, ca)}, mode: modeStartTLS, wantTLS: true},
		{name: "implicit", opts: Options{TLS: serverTLS(t, ca), Implicit: true}, mode: modeImplicit, wantTLS: true},
		{name: "custom domain", opts: Options{Domain: "mx.example.test"}, mode: modePlain, wantGreetName: "mx.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, tt.opts)
			c := dial(t, s, tt.mode, ca)
			if tt.mode != modeStartTLS { // StartTLS already said EHLO
				if err := c.Hello("client.example.test"); err != nil {
					t.Fatal(err)
				}
			}
			if ok, _ := c.Extension("STARTTLS"); ok != tt.wantSTARTTLS {
				t.Errorf("STARTTLS advertised %v, want %v", ok, tt.wantSTARTTLS)
			}
			if _, ok := c.TLSConnectionState(); ok != tt.wantTLS {
				t.Errorf("client TLS %v, want %v", ok, tt.wantTLS)
			}
			to := []string{"b@example.test", "c@example.test"}
			if step, err := sendOne(c, "a@example.test", to, testBody); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			msgs := waitN(t, s, 1)
			want := Received{
				From: "a@example.test",
				To:   to,
				Data: []byte(testBody),
				Conn: 1,
				Msg:  1,
				TLS:  tt.wantTLS,
			}
			if !equalReceived(msgs[0], want) {
				t.Errorf("got  %+v\nwant %+v", msgs[0], want)
			}
			if s.Connections() != 1 {
				t.Errorf("Connections %d, want 1", s.Connections())
			}
			if tt.wantGreetName != "" {
				conn, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_, greet, err := textproto.NewConn(conn).ReadResponse(220)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(greet, tt.wantGreetName+" ") {
					t.Errorf("greeting %q, want it to start with %q", greet, tt.wantGreetName)
				}
			}
		})
	}
}

func equalReceived(a, b Received) bool {
	return a.From == b.From && slices.Equal(a.To, b.To) && bytes.Equal(a.Data, b.Data) &&
		a.Conn == b.Conn && a.Msg == b.Msg && a.TLS == b.TLS && a.User == b.User && a.Mechanism == b.Mechanism
}

func TestTLSFailures(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	other := newTestCA(t)
	tests := []struct {
		name string
		opts Options
		dial func(s *Server) error
	}{
		{
			name: "starttls untrusted CA",
			opts: Options{TLS: serverTLS(t, ca)},
			dial: func(s *Server) error {
				c, err := netsmtp.Dial(s.Addr())
				if err != nil {
					return err
				}
				defer c.Close()
				return c.StartTLS(other.ClientTLSConfig(s.Host()))
			},
		},
		{
			name: "implicit wrong name",
			opts: Options{TLS: serverTLS(t, ca), Implicit: true},
			dial: func(s *Server) error {
				conn, err := tls.Dial("tcp", s.Addr(), ca.ClientTLSConfig("mail.example.test"))
				if err == nil {
					conn.Close()
				}
				return err
			},
		},
		{
			name: "starttls not offered",
			opts: Options{},
			dial: func(s *Server) error {
				c, err := netsmtp.Dial(s.Addr())
				if err != nil {
					return err
				}
				defer c.Close()
				return c.StartTLS(ca.ClientTLSConfig(s.Host()))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, tt.opts)
			if err := tt.dial(s); err == nil {
				t.Fatal("connection succeeded, want a failure")
			}
			if len(s.Messages()) != 0 {
				t.Error("messages recorded")
			}
		})
	}
}

// loginAuth is a client for the LOGIN mechanism without an initial
// response, for net/smtp (which has none built in).
type loginAuth struct{ user, pass string }

func (a loginAuth) Start(*netsmtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch string(fromServer) {
	case "Username:":
		return []byte(a.user), nil
	case "Password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected challenge %q", fromServer)
}

var testUsers = map[string]string{"alice": "s3cret", "bob": "hunter2"}

func TestAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)

	// netAuth authenticates with a net/smtp client.
	netAuth := func(a netsmtp.Auth) func(*testing.T, *Server, mode) (*netsmtp.Client, error) {
		return func(t *testing.T, s *Server, m mode) (*netsmtp.Client, error) {
			c := dial(t, s, m, ca)
			return c, c.Auth(a)
		}
	}
	type result struct {
		code int
		user string
		mech string
	}
	tests := []struct {
		name string
		// net/smtp client, or nil to use the go-smtp client with sasl.
		auth func(*testing.T, *Server, mode) (*netsmtp.Client, error)
		sasl sasl.Client
		want result
	}{
		{name: "PLAIN ok", auth: netAuth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1")), want: result{user: "alice", mech: "PLAIN"}},
		{name: "PLAIN wrong password", auth: netAuth(netsmtp.PlainAuth("", "alice", "wrong", "127.0.0.1")), want: result{code: 535}},
		{name: "PLAIN unknown user", auth: netAuth(netsmtp.PlainAuth("", "mallory", "s3cret", "127.0.0.1")), want: result{code: 535}},
		{name: "PLAIN other user's password", auth: netAuth(netsmtp.PlainAuth("", "bob", "s3cret", "127.0.0.1")), want: result{code: 535}},
		{name: "PLAIN authzid same as user", sasl: sasl.NewPlainClient("bob", "bob", "hunter2"), want: result{user: "bob", mech: "PLAIN"}},
		{name: "PLAIN authzid other user", sasl: sasl.NewPlainClient("alice", "bob", "hunter2"), want: result{code: 535}},
		{name: "LOGIN ok", auth: netAuth(loginAuth{"bob", "hunter2"}), want: result{user: "bob", mech: "LOGIN"}},
		{name: "LOGIN ok initial response", sasl: sasl.NewLoginClient("alice", "s3cret"), want: result{user: "alice", mech: "LOGIN"}},
		{name: "LOGIN wrong password", auth: netAuth(loginAuth{"bob", "s3cret"}), want: result{code: 535}},
		{name: "LOGIN wrong password initial response", sasl: sasl.NewLoginClient("alice", "nope"), want: result{code: 535}},
		{name: "CRAM-MD5 ok", auth: netAuth(netsmtp.CRAMMD5Auth("alice", "s3cret")), want: result{user: "alice", mech: "CRAM-MD5"}},
		{name: "CRAM-MD5 wrong secret", auth: netAuth(netsmtp.CRAMMD5Auth("alice", "hunter2")), want: result{code: 535}},
		{name: "CRAM-MD5 unknown user", auth: netAuth(netsmtp.CRAMMD5Auth("carol", "s3cret")), want: result{code: 535}},
	}
	for _, m := range []mode{modePlain, modeStartTLS, modeImplicit} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			opts := Options{TLS: serverTLS(t, ca), Users: testUsers}
			switch m {
			case modePlain:
				opts.AllowInsecureAuth = true
			case modeImplicit:
				opts.Implicit = true
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					s := StartT(t, opts)
					var err error
					if tt.auth != nil {
						var c *netsmtp.Client
						c, err = tt.auth(t, s, m)
						if err == nil {
							if step, serr := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); serr != nil {
								t.Fatalf("%s after AUTH: %v", step, serr)
							}
						}
					} else {
						err = goSMTPAuthSend(t, s, m, ca, tt.sasl)
					}
					if tt.want.code != 0 {
						if got := replyCode(err); got != tt.want.code {
							t.Fatalf("AUTH error %v (code %d), want code %d", err, got, tt.want.code)
						}
						if !strings.Contains(err.Error(), "Authentication credentials invalid") {
							t.Errorf("AUTH error %q does not carry the 535 text", err)
						}
						if len(s.Messages()) != 0 {
							t.Error("message recorded after failed AUTH")
						}
						return
					}
					if err != nil {
						t.Fatalf("AUTH: %v", err)
					}
					got := waitN(t, s, 1)[0]
					if got.User != tt.want.user || got.Mechanism != tt.want.mech {
						t.Errorf("User %q Mechanism %q, want %q %q", got.User, got.Mechanism, tt.want.user, tt.want.mech)
					}
					if got.TLS != (m != modePlain) {
						t.Errorf("TLS %v in mode %v", got.TLS, m)
					}
				})
			}
		})
	}
}

// goSMTPAuthSend authenticates with the go-smtp client and sends a message.
func goSMTPAuthSend(t *testing.T, s *Server, m mode, ca *CA, a sasl.Client) error {
	t.Helper()
	var (
		c   *smtp.Client
		err error
	)
	switch m {
	case modePlain:
		c, err = smtp.Dial(s.Addr())
	case modeStartTLS:
		c, err = smtp.DialStartTLS(s.Addr(), ca.ClientTLSConfig(s.Host()))
	case modeImplicit:
		c, err = smtp.DialTLS(s.Addr(), ca.ClientTLSConfig(s.Host()))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(a); err != nil {
		return err
	}
	if err := c.SendMail("a@example.test", []string{"b@example.test"}, strings.NewReader(testBody)); err != nil {
		t.Fatalf("send after AUTH: %v", err)
	}
	return c.Quit()
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tests := []struct {
		name     string
		opts     Options
		mode     mode
		wantAUTH string // AUTH extension parameters, "" if not advertised
	}{
		{name: "plaintext insecure allowed", opts: Options{Users: testUsers, AllowInsecureAuth: true}, mode: modePlain, wantAUTH: "PLAIN LOGIN CRAM-MD5"},
		{name: "plaintext AUTH hidden", opts: Options{Users: testUsers, TLS: serverTLS(t, ca)}, mode: modePlain},
		{name: "after STARTTLS", opts: Options{Users: testUsers, TLS: serverTLS(t, ca)}, mode: modeStartTLS, wantAUTH: "PLAIN LOGIN CRAM-MD5"},
		{
			name: "extra mechanism only",
			opts: Options{AllowInsecureAuth: true, Mechanisms: map[string]func(*AuthConn) sasl.Server{
				"x-test": func(*AuthConn) sasl.Server { return nil },
			}},
			mode:     modePlain,
			wantAUTH: "X-TEST",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, tt.opts)
			c := dial(t, s, tt.mode, ca)
			if tt.mode != modeStartTLS { // StartTLS already said EHLO
				if err := c.Hello("client.example.test"); err != nil {
					t.Fatal(err)
				}
			}
			ok, params := c.Extension("AUTH")
			if tt.wantAUTH == "" && ok {
				t.Errorf("AUTH %q advertised, want none", params)
			}
			if tt.wantAUTH != "" && params != tt.wantAUTH {
				t.Errorf("AUTH %q advertised, want %q", params, tt.wantAUTH)
			}
			err := c.Mail("a@example.test")
			if replyCode(err) != 530 || !strings.Contains(err.Error(), "5.7.0 Authentication required") {
				t.Fatalf("MAIL without AUTH: %v, want 530 5.7.0 Authentication required", err)
			}
		})
	}

	// Without Users or Mechanisms no authentication is asked for.
	s := StartT(t, Options{})
	c := dial(t, s, modePlain, ca)
	if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if got := waitN(t, s, 1)[0]; got.User != "" || got.Mechanism != "" {
		t.Errorf("User %q Mechanism %q, want none", got.User, got.Mechanism)
	}
}

// tokenMech is a toy one-step mechanism standing in for XOAUTH2.
type tokenMech struct{ ac *AuthConn }

func (m tokenMech) Next(resp []byte) ([]byte, bool, error) {
	switch string(resp) {
	case "good-token":
		m.ac.SetUser(fmt.Sprintf("token-user@conn%d", m.ac.Conn()))
		return nil, true, nil
	case "temporary":
		return nil, false, fmt.Errorf("token service down: %w",
			&smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"})
	}
	return nil, false, errors.New("bad token")
}

type tokenClient struct{ mech, token string }

func (c tokenClient) Start() (string, []byte, error) { return c.mech, []byte(c.token), nil }
func (c tokenClient) Next([]byte) ([]byte, error)    { return nil, errors.New("unexpected challenge") }

func TestCustomMechanism(t *testing.T) {
	t.Parallel()
	var sawTLS sync.Map
	opts := Options{
		Users:             map[string]string{"alice": "s3cret"},
		AllowInsecureAuth: true,
		Mechanisms: map[string]func(*AuthConn) sasl.Server{
			"xtoken": func(c *AuthConn) sasl.Server {
				sawTLS.Store(c.Conn(), c.TLS())
				return tokenMech{c}
			},
			// Override a built-in: PLAIN now rejects everyone.
			"PLAIN": func(c *AuthConn) sasl.Server {
				return sasl.NewPlainServer(func(string, string, string) error { return errors.New("no") })
			},
		},
	}
	tests := []struct {
		name     string
		client   sasl.Client
		wantCode int
		wantUser string
	}{
		{name: "token ok", client: tokenClient{"XTOKEN", "good-token"}, wantUser: "token-user@conn1"},
		{name: "token lower-case mechanism", client: tokenClient{"xtoken", "good-token"}, wantUser: "token-user@conn1"},
		{name: "plain error becomes 535", client: tokenClient{"XTOKEN", "bad"}, wantCode: 535},
		{name: "wrapped SMTPError kept", client: tokenClient{"XTOKEN", "temporary"}, wantCode: 454},
		{name: "overridden PLAIN", client: sasl.NewPlainClient("", "alice", "s3cret"), wantCode: 535},
		{name: "built-in LOGIN still there", client: sasl.NewLoginClient("alice", "s3cret"), wantUser: "alice"},
		{name: "unknown mechanism", client: tokenClient{"NOPE", "x"}, wantCode: 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, opts)
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.example.test"); err != nil {
				t.Fatal(err)
			}
			if _, params := c.Extension("AUTH"); params != "PLAIN LOGIN CRAM-MD5 XTOKEN" {
				t.Errorf("AUTH %q", params)
			}
			err = c.Auth(tt.client)
			if tt.wantCode != 0 {
				if replyCode(err) != tt.wantCode {
					t.Fatalf("AUTH: %v, want code %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SendMail("a@example.test", []string{"b@example.test"}, strings.NewReader(testBody)); err != nil {
				t.Fatal(err)
			}
			if got := waitN(t, s, 1)[0]; got.User != tt.wantUser {
				t.Errorf("User %q, want %q", got.User, tt.wantUser)
			}
		})
	}
	if v, ok := sawTLS.Load(1); ok && v.(bool) {
		t.Error("AuthConn.TLS true on a plaintext connection")
	}
}

func TestMaxLineLength(t *testing.T) {
	t.Parallel()
	// An AUTH PLAIN line of a little over 5000 bytes, as with a long
	// OAuth-style secret.
	long := strings.Repeat("x", 3800)
	users := map[string]string{"alice": long}
	tests := []struct {
		name          string
		maxLineLength int
		wantOK        bool
	}{
		{name: "default 64 KiB", wantOK: true},
		{name: "unlimited", maxLineLength: -1, wantOK: true},
		{name: "go-smtp default 2000", maxLineLength: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, Options{Users: users, AllowInsecureAuth: true, MaxLineLength: tt.maxLineLength})
			c := dial(t, s, modePlain, nil)
			err := c.Auth(netsmtp.PlainAuth("", "alice", long, "127.0.0.1"))
			if !tt.wantOK {
				if err == nil {
					t.Fatal("AUTH succeeded, want a line-length failure")
				}
				if code := replyCode(err); code != 0 && code != 500 {
					t.Errorf("AUTH: %v, want 500 or a closed connection", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AUTH with a %d-byte line: %v", len("AUTH PLAIN ")+((len(long)+7+2)/3)*4, err)
			}
			if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if got := waitN(t, s, 1)[0]; got.User != "alice" {
				t.Errorf("User %q", got.User)
			}
		})
	}
}

func TestMaxMessageBytes(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{MaxMessageBytes: 1024})
	c := dial(t, s, modePlain, nil)
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, size := c.Extension("SIZE"); size != "1024" {
		t.Errorf("SIZE %q, want 1024", size)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 200)
	step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, big)
	if step != "DATA" || replyCode(err) != 552 {
		t.Fatalf("%s: %v, want DATA 552", step, err)
	}
	// The connection is still usable for a message that fits.
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if msgs := waitN(t, s, 1); len(msgs) != 1 || msgs[0].Msg != 2 {
		t.Errorf("messages %+v", msgs)
	}
}

func TestDataStoredAsIs(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"dot lines":  "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmid.dle\r\n",
		"8bit":       "Subject: =?utf-8?q?x?=\r\n\r\nGrüße \xff\xfe binary-ish\r\n",
		"empty body": "Subject: empty\r\n\r\n",
		"long line":  "Subject: long\r\n\r\n" + strings.Repeat("a", 900) + "\r\n",
	}
	s := StartT(t, Options{})
	c := dial(t, s, modePlain, nil)
	var want []string
	for name, body := range bodies {
		if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, body); err != nil {
			t.Fatalf("%s: %s: %v", name, step, err)
		}
		want = append(want, body)
	}
	msgs := waitN(t, s, len(bodies))
	for i, m := range msgs {
		if string(m.Data) != want[i] {
			t.Errorf("message %d: got %q, want %q", i, m.Data, want[i])
		}
	}
}

func TestManyMessagesOneConnection(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	s := StartT(t, Options{TLS: serverTLS(t, ca), Users: testUsers})
	c := dial(t, s, modeStartTLS, ca)
	if err := c.Auth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := range n {
		body := fmt.Sprintf("Subject: %d\r\n\r\nmessage %d\r\n", i, i)
		to := []string{fmt.Sprintf("r%d@example.test", i)}
		if i%3 == 0 {
			to = append(to, "extra@example.test")
		}
		if step, err := sendOne(c, fmt.Sprintf("s%d@example.test", i), to, body); err != nil {
			t.Fatalf("message %d: %s: %v", i, step, err)
		}
		// Alternate RSET between messages and back-to-back transactions.
		if i%2 == 0 {
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An aborted transaction does not produce a message.
	if err := c.Mail("aborted@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("x@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	msgs := waitN(t, s, n)
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		wantTo := []string{fmt.Sprintf("r%d@example.test", i)}
		if i%3 == 0 {
			wantTo = append(wantTo, "extra@example.test")
		}
		want := Received{
			From:      fmt.Sprintf("s%d@example.test", i),
			To:        wantTo,
			Data:      fmt.Appendf(nil, "Subject: %d\r\n\r\nmessage %d\r\n", i, i),
			Conn:      1,
			Msg:       i + 1,
			TLS:       true,
			User:      "alice",
			Mechanism: "PLAIN",
		}
		if !equalReceived(m, want) {
			t.Errorf("message %d:\ngot  %+v\nwant %+v", i, m, want)
		}
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("Connections %d, want 1", got)
	}
}

func TestConnectionsCounted(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	s := StartT(t, Options{TLS: serverTLS(t, ca), Implicit: true})
	// A connection that never completes the handshake still counts.
	raw, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for i := range 3 {
		c := dial(t, s, modeImplicit, ca)
		if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
			t.Fatalf("%d: %s: %v", i, step, err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	msgs := waitN(t, s, 3)
	for i, m := range msgs {
		if m.Conn != i+2 {
			t.Errorf("message %d on connection %d, want %d", i, m.Conn, i+2)
		}
	}
	if got := s.Connections(); got != 4 {
		t.Errorf("Connections %d, want 4", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	s := StartT(t, Options{TLS: serverTLS(t, ca), Users: testUsers, AllowInsecureAuth: true})
	const clients, perClient = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			m := []mode{modePlain, modeStartTLS}[i%2]
			c, err := dialErr(s, m, ca)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Auth(netsmtp.PlainAuth("", "bob", "hunter2", "127.0.0.1")); err != nil {
				errs <- err
				return
			}
			for j := range perClient {
				body := fmt.Sprintf("Subject: %d/%d\r\n\r\n.\r\n", i, j)
				if step, err := sendOne(c, fmt.Sprintf("c%d@example.test", i), []string{"x@example.test"}, body); err != nil {
					errs <- fmt.Errorf("client %d message %d: %s: %w", i, j, step, err)
					return
				}
				_ = s.Messages() // concurrent readers
				_ = s.Connections()
			}
			errs <- c.Quit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	msgs := waitN(t, s, clients*perClient)
	if got := s.Connections(); got != clients {
		t.Errorf("Connections %d, want %d", got, clients)
	}
	perConn := map[int]int{}
	fromByConn := map[int]string{}
	msgNums := map[int]bool{}
	for _, m := range msgs {
		perConn[m.Conn]++
		if f, ok := fromByConn[m.Conn]; ok && f != m.From {
			t.Errorf("connection %d carried mail from %q and %q", m.Conn, f, m.From)
		}
		fromByConn[m.Conn] = m.From
		if msgNums[m.Msg] {
			t.Errorf("message number %d used twice", m.Msg)
		}
		msgNums[m.Msg] = true
		if m.User != "bob" {
			t.Errorf("User %q", m.User)
		}
	}
	for conn := 1; conn <= clients; conn++ {
		if perConn[conn] != perClient {
			t.Errorf("connection %d delivered %d messages, want %d", conn, perConn[conn], perClient)
		}
	}
}

// faultAt fails the given stage of the given message (0: every message).
func faultAt(stage Stage, msg, code int, enh smtp.EnhancedCode, text string) Fault {
	return func(st Stage, _ int, m int) *smtp.SMTPError {
		if st == stage && (msg == 0 || m == msg) {
			return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
		}
		return nil
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tests := []struct {
		name      string
		mode      mode
		fault     Fault
		wantStep  string
		wantCode  int
		wantText  string
		connAlive bool // the client can retry on the same connection
	}{
		{name: "MAIL 421 closes", fault: faultAt(StageMail, 1, 421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down"), wantStep: "MAIL", wantCode: 421, wantText: "4.3.2 Service shutting down"},
		{name: "MAIL 421 closes TLS", mode: modeStartTLS, fault: faultAt(StageMail, 1, 421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down"), wantStep: "MAIL", wantCode: 421},
		{name: "MAIL 451", fault: faultAt(StageMail, 1, 451, smtp.EnhancedCode{4, 3, 0}, "Try again"), wantStep: "MAIL", wantCode: 451, wantText: "4.3.0 Try again", connAlive: true},
		{name: "MAIL 550", fault: faultAt(StageMail, 1, 550, smtp.EnhancedCode{5, 7, 1}, "Sender rejected"), wantStep: "MAIL", wantCode: 550, connAlive: true},
		{name: "RCPT 452", fault: faultAt(StageRcpt, 1, 452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients"), wantStep: "RCPT", wantCode: 452, connAlive: true},
		{name: "DATA 451", fault: faultAt(StageData, 1, 451, smtp.EnhancedCode{4, 3, 0}, "Local error"), wantStep: "DATA", wantCode: 451, wantText: "4.3.0 Local error", connAlive: true},
		{name: "DATA 451 implicit TLS", mode: modeImplicit, fault: faultAt(StageData, 1, 451, smtp.EnhancedCode{4, 3, 0}, "Local error"), wantStep: "DATA", wantCode: 451, connAlive: true},
		{name: "DATA 421 closes", fault: faultAt(StageData, 1, 421, smtp.EnhancedCode{4, 4, 2}, "Timeout"), wantStep: "DATA", wantCode: 421},
		{name: "DATA 421 closes implicit TLS", mode: modeImplicit, fault: faultAt(StageData, 1, 421, smtp.EnhancedCode{4, 4, 2}, "Timeout"), wantStep: "DATA", wantCode: 421},
		{name: "DATA 554", fault: faultAt(StageData, 1, 554, smtp.EnhancedCode{5, 6, 0}, "Content rejected"), wantStep: "DATA", wantCode: 554, connAlive: true},
		{name: "multi-line 421", fault: faultAt(StageMail, 1, 421, smtp.EnhancedCode{4, 3, 2}, "line one\nline two"), wantStep: "MAIL", wantCode: 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := StartT(t, Options{TLS: serverTLS(t, ca), Implicit: tt.mode == modeImplicit, Fault: tt.fault})
			c := dial(t, s, tt.mode, ca)
			step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody)
			if step != tt.wantStep || replyCode(err) != tt.wantCode {
				t.Fatalf("%s: %v; want %s %d", step, err, tt.wantStep, tt.wantCode)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if len(s.Messages()) != 0 {
				t.Fatal("failed message recorded")
			}

			wantConns := 1
			if tt.connAlive {
				if err := c.Reset(); err != nil {
					t.Fatalf("RSET after fault: %v", err)
				}
			} else {
				if err := c.Noop(); err == nil {
					t.Fatal("connection still open after 421")
				}
				c = dial(t, s, tt.mode, ca)
				wantConns = 2
			}
			if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
				t.Fatalf("retry: %s: %v", step, err)
			}
			msgs := waitN(t, s, 1)
			if len(msgs) != 1 || msgs[0].Msg != 2 || msgs[0].Conn != wantConns {
				t.Errorf("messages %+v, want one with Msg 2 on connection %d", msgs, wantConns)
			}
			if got := s.Connections(); got != wantConns {
				t.Errorf("Connections %d, want %d", got, wantConns)
			}
		})
	}
}

func TestFaultAuth(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{
		Users:             testUsers,
		AllowInsecureAuth: true,
		Fault:             faultAt(StageAuth, 0, 454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure"),
	})
	c := dial(t, s, modePlain, nil)
	err := c.Auth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1"))
	if replyCode(err) != 454 {
		t.Fatalf("AUTH: %v, want 454", err)
	}
	s.SetFault(nil)
	c = dial(t, s, modePlain, nil)
	if err := c.Auth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH after SetFault(nil): %v", err)
	}
}

// TestFaultArguments checks the stage, connection and message numbers a
// Fault sees, and SetFault at run time.
func TestFaultArguments(t *testing.T) {
	t.Parallel()
	type call struct {
		stage     Stage
		conn, msg int
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	record := func(st Stage, conn, msg int) *smtp.SMTPError {
		mu.Lock()
		calls = append(calls, call{st, conn, msg})
		mu.Unlock()
		return nil
	}
	s := StartT(t, Options{Users: testUsers, AllowInsecureAuth: true})
	c1 := dial(t, s, modePlain, nil)
	// Rejected for missing AUTH: takes no message number, no fault call.
	if err := c1.Mail("a@example.test"); replyCode(err) != 530 {
		t.Fatalf("MAIL: %v", err)
	}
	s.SetFault(record)
	if err := c1.Auth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if step, err := sendOne(c1, "a@example.test", []string{"b@example.test", "c@example.test"}, testBody); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	c2 := dial(t, s, modePlain, nil)
	if err := c2.Auth(netsmtp.CRAMMD5Auth("bob", "hunter2")); err != nil {
		t.Fatal(err)
	}
	if step, err := sendOne(c2, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	s.SetFault(nil)
	if step, err := sendOne(c1, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}

	want := []call{
		{StageAuth, 1, 0},
		{StageMail, 1, 1}, {StageRcpt, 1, 1}, {StageRcpt, 1, 1}, {StageData, 1, 1},
		{StageMail, 1, 2}, {StageRcpt, 1, 2}, {StageRcpt, 1, 2}, {StageData, 1, 2},
		{StageAuth, 2, 0},
		{StageMail, 2, 3}, {StageRcpt, 2, 3}, {StageData, 2, 3},
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, want) {
		t.Errorf("fault calls\n got %v\nwant %v", calls, want)
	}
	msgs := s.Messages()
	if len(msgs) != 4 || msgs[2].Mechanism != "CRAM-MD5" || msgs[2].User != "bob" || msgs[3].Msg != 4 {
		t.Errorf("messages %+v", msgs)
	}
}

func TestStageString(t *testing.T) {
	t.Parallel()
	for st, want := range map[Stage]string{StageMail: "MAIL", StageRcpt: "RCPT", StageData: "DATA", StageAuth: "AUTH", 0: "Stage(0)"} {
		if st.String() != want {
			t.Errorf("%d: %q, want %q", int(st), st.String(), want)
		}
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		s := StartT(t, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		msgs, err := s.Wait(ctx, 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v, want DeadlineExceeded", err)
		}
		if len(msgs) != 0 {
			t.Errorf("%d messages", len(msgs))
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
			t.Errorf("Wait returned after %v", d)
		}
	})
	t.Run("partial then timeout", func(t *testing.T) {
		t.Parallel()
		s := StartT(t, Options{})
		c := dial(t, s, modePlain, nil)
		if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		msgs, err := s.Wait(ctx, 2)
		if !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 1 {
			t.Fatalf("Wait: %d messages, %v", len(msgs), err)
		}
	})
	t.Run("messages arrive later", func(t *testing.T) {
		t.Parallel()
		s := StartT(t, Options{})
		errc := make(chan error, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			c, err := netsmtp.Dial(s.Addr())
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			for range 3 {
				if _, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
					errc <- err
					return
				}
			}
			errc <- c.Quit()
		}()
		msgs := waitN(t, s, 3)
		if len(msgs) < 3 {
			t.Errorf("%d messages", len(msgs))
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero", func(t *testing.T) {
		t.Parallel()
		s := StartT(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Wait(ctx, 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("server closed", func(t *testing.T) {
		t.Parallel()
		s := StartT(t, Options{})
		go func() {
			time.Sleep(50 * time.Millisecond)
			s.Close()
		}()
		if _, err := s.Wait(context.Background(), 1); err == nil {
			t.Fatal("Wait on a closed server succeeded")
		}
	})
}

func TestResetAndMessagesCopy(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{})
	c := dial(t, s, modePlain, nil)
	if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	msgs := waitN(t, s, 1)
	msgs[0].Data[0] = 'X'
	msgs[0].To[0] = "changed"
	if again := s.Messages(); again[0].Data[0] == 'X' || again[0].To[0] == "changed" {
		t.Error("Messages shares memory with the server")
	}

	s.Reset()
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages after Reset", n)
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("Connections %d after Reset, want 1", got)
	}
	if step, err := sendOne(c, "a@example.test", []string{"b@example.test"}, testBody); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	msgs = waitN(t, s, 1)
	if len(msgs) != 1 || msgs[0].Msg != 2 || msgs[0].Conn != 1 {
		t.Errorf("after Reset: %+v", msgs)
	}
}

// TestCloseNoLeak closes servers with connections in every state and checks
// that no server goroutine survives Close. It is not parallel, so no other
// test's server is running meanwhile.
func TestCloseNoLeak(t *testing.T) {
	ca := newTestCA(t)
	plain, err := Start(Options{TLS: serverTLS(t, ca), Users: testUsers, AllowInsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	implicit, err := Start(Options{TLS: serverTLS(t, ca), Implicit: true})
	if err != nil {
		t.Fatal(err)
	}

	var conns []io.Closer
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Idle after EHLO.
	idle := dial(t, plain, modePlain, ca)
	if err := idle.Hello("idle.example.test"); err != nil {
		t.Fatal(err)
	}
	// Idle after STARTTLS.
	dial(t, plain, modeStartTLS, ca)
	// In the middle of DATA.
	mid := dial(t, plain, modePlain, ca)
	if err := mid.Auth(netsmtp.PlainAuth("", "alice", "s3cret", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := mid.Mail("a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := mid.Rcpt("b@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := mid.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "Subject: never finished\r\n\r\npartial"); err != nil {
		t.Fatal(err)
	}
	// In the middle of an AUTH LOGIN exchange.
	raw, err := net.Dial("tcp", plain.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, raw)
	tp := textproto.NewConn(raw)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"EHLO raw.example.test", "AUTH LOGIN"} {
		if err := tp.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tp.ReadResponse(0); err != nil {
			t.Fatal(err)
		}
	}
	// Implicit TLS: one connection that never starts the handshake and
	// one that completed it.
	noHandshake, err := net.Dial("tcp", implicit.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, noHandshake)
	tlsIdle := dial(t, implicit, modeImplicit, ca)
	if err := tlsIdle.Hello("tls.example.test"); err != nil {
		t.Fatal(err)
	}

	// Let the server reach the states above (the no-handshake connection
	// must have been accepted).
	deadline := time.Now().Add(5 * time.Second)
	for implicit.Connections() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	for _, s := range []*Server{plain, implicit} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Close has returned, so no goroutine may still be doing server work:
	// no accept loop, no connection handler, none of this package's
	// methods. This is checked without waiting.
	busy := serverGoroutines(func(stack string) bool {
		return strings.Contains(stack, "go-smtp.(*Server).Serve(") ||
			strings.Contains(stack, "go-smtp.(*Server).handleConn(") ||
			strings.Contains(stack, "go-smtp.(*Conn).") ||
			strings.Contains(stack, "plugins/testserver.(*")
	})
	if len(busy) > 0 {
		t.Fatalf("%d goroutines still working after Close:\n%s", len(busy), strings.Join(busy, "\n\n"))
	}
	// A goroutine may be between its deferred WaitGroup.Done (which Close
	// waits for) and its exit; it must be gone promptly.
	isServer := func(stack string) bool {
		return strings.Contains(stack, "github.com/emersion/go-smtp.") ||
			strings.Contains(stack, "plugins/testserver.Start")
	}
	leaked := serverGoroutines(isServer)
	for deadline := time.Now().Add(5 * time.Second); len(leaked) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		leaked = serverGoroutines(isServer)
	}
	if len(leaked) > 0 {
		t.Fatalf("%d goroutines left after Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}

	// Close is idempotent and the port no longer accepts connections.
	if err := plain.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", plain.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("closed server still accepts connections")
	}
	// The clients see their connections closed.
	if err := idle.Noop(); err == nil {
		t.Error("idle connection still works after Close")
	}
}

// serverGoroutines returns the stacks of the goroutines other than the
// caller's for which match is true.
func serverGoroutines(match func(stack string) bool) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, st := range stacks[1:] { // stacks[0] is the calling goroutine
		if match(st) {
			out = append(out, st)
		}
	}
	return out
}

// TestClosedAddr: connections to the address are refused, and the port
// cannot be taken by a listener while the test runs.
func TestClosedAddr(t *testing.T) {
	addr := ClosedAddr(t)
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s: connected, want refused", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v, want connection refused", addr, err)
		}
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("listen on %s succeeded while ClosedAddr holds it", addr)
	}
}
