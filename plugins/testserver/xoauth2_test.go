package testserver

import (
	"context"
	"errors"
	"fmt"
	netsmtp "net/smtp"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/wneessen/go-mail"
)

// xoauth2Setup starts a STARTTLS server offering only XOAUTH2 in the given
// style, accepting token for mailbox.
func xoauth2Setup(t *testing.T, style Style, mailbox, token string, calls *atomic.Int32) (*Server, *CA) {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	validate := func(user, tok string) error {
		if calls != nil {
			calls.Add(1)
		}
		if user != mailbox || tok != token {
			return errors.New("bad token")
		}
		return nil
	}
	srv := StartT(t, Options{
		TLS:        tlsConfig,
		Mechanisms: map[string]func(*AuthConn) sasl.Server{MechXOAUTH2: XOAUTH2(validate, style)},
	})
	return srv, ca
}

// xoauth2SendGoMail sends one message with go-mail's XOAUTH2 client, as the
// smtp-oauth transports will.
func xoauth2SendGoMail(srv *Server, ca *CA, user, token string) error {
	c, err := mail.NewClient(srv.Host(),
		mail.WithPort(srv.Port()),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(ca.ClientTLSConfig(srv.Host())),
		mail.WithSMTPAuth(mail.SMTPAuthXOAUTH2),
		mail.WithUsername(user),
		mail.WithPassword(token),
		mail.WithTimeout(10*time.Second),
	)
	if err != nil {
		return err
	}
	m := mail.NewMsg()
	if err := m.From(user); err != nil {
		return err
	}
	if err := m.To("ops@example.test"); err != nil {
		return err
	}
	m.Subject("alert")
	m.SetBodyString(mail.TypeTextPlain, "disk full")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.DialAndSendWithContext(ctx, m)
}

func TestXOAUTH2GoMail(t *testing.T) {
	const mailbox = "alerts@contoso.example"
	token := RandomToken(5 * 1024)
	if len(token) != 5*1024 {
		t.Fatalf("token length %d", len(token))
	}
	for _, style := range []Style{StyleMicrosoft, StyleGoogle} {
		for _, tc := range []struct {
			name     string
			user     string
			token    string
			wantCode int    // 0: success
			wantMsg  string // prefix of the 535 text
		}{
			{name: "ok", user: mailbox, token: token},
			{name: "wrong token", user: mailbox, token: RandomToken(5 * 1024), wantCode: 535},
			{name: "wrong mailbox", user: "other@contoso.example", token: token, wantCode: 535},
		} {
			t.Run(fmt.Sprintf("%v/%s", xoauth2StyleName(style), tc.name), func(t *testing.T) {
				var calls atomic.Int32
				srv, ca := xoauth2Setup(t, style, mailbox, token, &calls)
				err := xoauth2SendGoMail(srv, ca, tc.user, tc.token)
				if n := calls.Load(); n != 1 {
					t.Errorf("validate called %d times, want 1", n)
				}
				if tc.wantCode == 0 {
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					msgs := waitN(t, srv, 1)
					if msgs[0].User != mailbox || msgs[0].Mechanism != MechXOAUTH2 || !msgs[0].TLS {
						t.Errorf("received %+v", msgs[0])
					}
					return
				}
				var tp *textproto.Error
				if !errors.As(err, &tp) {
					t.Fatalf("send error %v (%T): no *textproto.Error", err, err)
				}
				want := "5.7.3 Authentication unsuccessful"
				if style == StyleGoogle {
					// The multi-line reply joined by textproto; reaching
					// it proves go-mail answered the 334 challenge.
					want = "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials"
				}
				if tp.Code != tc.wantCode || tp.Msg != want {
					t.Errorf("reply %d %q, want %d %q", tp.Code, tp.Msg, tc.wantCode, want)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("%d messages accepted", n)
				}
			})
		}
	}
}

func xoauth2StyleName(s Style) string {
	if s == StyleGoogle {
		return "google"
	}
	return "microsoft"
}

// xoauth2RecordingAuth is a net/smtp XOAUTH2 client that can omit the initial
// response and records the server's challenges.
type xoauth2RecordingAuth struct {
	ir         []byte
	noIR       bool
	challenges []string
}

func (a *xoauth2RecordingAuth) Start(*netsmtp.ServerInfo) (string, []byte, error) {
	if a.noIR {
		return MechXOAUTH2, nil, nil
	}
	return MechXOAUTH2, a.ir, nil
}

func (a *xoauth2RecordingAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.challenges = append(a.challenges, string(fromServer))
	if a.noIR && len(a.challenges) == 1 {
		return a.ir, nil
	}
	return []byte{}, nil
}

func TestXOAUTH2Wire(t *testing.T) {
	const mailbox = "alerts@example.test"
	token := RandomToken(4096)
	ir := func(user, tok string) []byte {
		return []byte("user=" + user + "\x01auth=Bearer " + tok + "\x01\x01")
	}
	for _, tc := range []struct {
		name           string
		style          Style
		auth           *xoauth2RecordingAuth
		wantCode       int
		wantChallenges []string
	}{
		{name: "initial response", auth: &xoauth2RecordingAuth{ir: ir(mailbox, token)}},
		{name: "no initial response gets empty challenge", auth: &xoauth2RecordingAuth{ir: ir(mailbox, token), noIR: true}, wantChallenges: []string{""}},
		{name: "microsoft bad token", auth: &xoauth2RecordingAuth{ir: ir(mailbox, "x")}, wantCode: 535},
		{name: "google bad token challenge", style: StyleGoogle, auth: &xoauth2RecordingAuth{ir: ir(mailbox, "x")}, wantCode: 535, wantChallenges: []string{GoogleXOAUTH2Challenge}},
		{name: "google no IR then bad token", style: StyleGoogle, auth: &xoauth2RecordingAuth{ir: ir(mailbox, "x"), noIR: true}, wantCode: 535, wantChallenges: []string{"", GoogleXOAUTH2Challenge}},
		{name: "malformed", auth: &xoauth2RecordingAuth{ir: []byte("user=" + mailbox + "\x01auth=Basic abc\x01\x01")}, wantCode: 501},
		{name: "no terminator", auth: &xoauth2RecordingAuth{ir: []byte("user=" + mailbox + "\x01auth=Bearer " + token)}, wantCode: 501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, ca := xoauth2Setup(t, tc.style, mailbox, token, nil)
			c := dial(t, srv, modeStartTLS, ca)
			err := c.Auth(tc.auth)
			if got := replyCode(err); got != tc.wantCode {
				t.Fatalf("auth: %v (code %d), want code %d", err, got, tc.wantCode)
			}
			if strings.Join(tc.auth.challenges, "|") != strings.Join(tc.wantChallenges, "|") {
				t.Errorf("challenges %q, want %q", tc.auth.challenges, tc.wantChallenges)
			}
			if tc.wantCode == 0 {
				if _, err := sendOne(c, mailbox, []string{"b@example.test"}, testBody); err != nil {
					t.Fatal(err)
				}
				if m := waitN(t, srv, 1)[0]; m.User != mailbox {
					t.Errorf("user %q", m.User)
				}
			}
		})
	}
}

func TestXOAUTH2ValidateSMTPError(t *testing.T) {
	for _, style := range []Style{StyleMicrosoft, StyleGoogle} {
		t.Run(xoauth2StyleName(style), func(t *testing.T) {
			ca, err := NewCA()
			if err != nil {
				t.Fatal(err)
			}
			tlsConfig, err := ca.ServerTLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			disabled := &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}
			srv := StartT(t, Options{TLS: tlsConfig, Mechanisms: map[string]func(*AuthConn) sasl.Server{
				MechXOAUTH2: XOAUTH2(func(string, string) error { return fmt.Errorf("wrapped: %w", disabled) }, style),
			}})
			a := &xoauth2RecordingAuth{ir: []byte("user=a@b\x01auth=Bearer t\x01\x01")}
			err = dial(t, srv, modeStartTLS, ca).Auth(a)
			var tp *textproto.Error
			if !errors.As(err, &tp) || tp.Code != 535 || !strings.HasPrefix(tp.Msg, "5.7.139 ") {
				t.Errorf("got %v", err)
			}
			if len(a.challenges) != 0 {
				t.Errorf("challenges %q", a.challenges)
			}
		})
	}
}

func TestParseXOAUTH2(t *testing.T) {
	u, tok, err := ParseXOAUTH2([]byte("user=a@b.c\x01auth=bearer T0k\x01\x01"))
	if err != nil || u != "a@b.c" || tok != "T0k" {
		t.Errorf("got %q %q %v", u, tok, err)
	}
	for _, bad := range []string{"", "\x01\x01", "user=a\x01\x01", "auth=Bearer t\x01\x01", "user=\x01auth=Bearer t\x01\x01", "user=a\x01auth=Bearer \x01\x01", "user=a\x01junk\x01auth=Bearer t\x01\x01"} {
		if _, _, err := ParseXOAUTH2([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRandomToken(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 4096, 5000} {
		tok := RandomToken(n)
		if len(tok) != n || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("RandomToken(%d) = %q", n, tok)
		}
	}
	if a, b := RandomToken(64), RandomToken(64); a == b {
		t.Errorf("two tokens are equal: %s", a)
	}
}
