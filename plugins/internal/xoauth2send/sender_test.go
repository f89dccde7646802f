package xoauth2send_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const mailbox = "alerts@contoso.example"

// issuer is a token endpoint in miniature: it mints realistic opaque
// tokens and the SMTP stand-in's validate accepts the ones it has not
// revoked, for mailbox only.
type issuer struct {
	mu      sync.Mutex
	valid   map[string]bool
	fetches int
	// reply, when set, is what validate answers instead of checking.
	reply error
	// auths counts validate calls, one per AUTH.
	auths atomic.Int32
}

func newIssuer() *issuer { return &issuer{valid: map[string]bool{}} }

func (i *issuer) fetch(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok := testserver.RandomToken(4096)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.fetches++
	i.valid[tok] = true
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (i *issuer) validate(user, token string) error {
	i.auths.Add(1)
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.reply != nil {
		return i.reply
	}
	if user != mailbox || !i.valid[token] {
		return errors.New("token rejected")
	}
	return nil
}

// revoke makes every token issued so far invalid, as a provider does when
// an admin revokes the app's sessions.
func (i *issuer) revoke() {
	i.mu.Lock()
	clear(i.valid)
	i.mu.Unlock()
}

func (i *issuer) setReply(err error) {
	i.mu.Lock()
	i.reply = err
	i.mu.Unlock()
}

func (i *issuer) fetchCount() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fetches
}

// setup starts an XOAUTH2 server in style checking tokens with is, and a
// Sender logging in to it as mailbox.
func setup(t *testing.T, style testserver.Style, is *issuer) (*testserver.Server, *xoauth2send.Sender) {
	t.Helper()
	ca, caFile := xoauth2test.NewCA(t)
	srv := xoauth2test.StartSMTP(t, ca, false, style, is.validate)
	s, err := xoauth2send.New(smtpsend.Options{
		Host: srv.Host(), Port: srv.Port(), Security: smtpsend.SecuritySTARTTLS, CAFile: caFile,
		Timeout: 20 * time.Second, Username: mailbox, UserAgent: "tocsin-test/1",
	}, is.fetch, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return srv, s
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: mailbox},
		To:      []sdk.Address{{Address: "ops@example.net"}},
		Subject: "disk full",
		Text:    "The disk is full.\n",
	}
}

func TestSender_Send_sharesOneToken(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	srv, s := setup(t, testserver.StyleMicrosoft, is)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			results, err := s.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("m%d@node", i))})
			if err == nil && results[0].Err != nil {
				err = results[0].Err
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if got := is.fetchCount(); got != 1 || s.Fetches() != 1 {
		t.Errorf("%d token requests (Fetches %d) for %d sends, want 1", got, s.Fetches(), n)
	}
	msgs := srv.Messages()
	if len(msgs) != n {
		t.Fatalf("server received %d messages, want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if !m.TLS || m.User != mailbox || m.Mechanism != testserver.MechXOAUTH2 {
			t.Fatalf("message over TLS %v as %q with %q", m.TLS, m.User, m.Mechanism)
		}
	}
}

// TestSender_rejectedToken covers what happens after a 535: the token is
// dropped, and the call is made again only when the rejected token came
// from the cache.
func TestSender_rejectedToken(t *testing.T) {
	t.Parallel()
	rejected := &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.3", Reply: "535 5.7.3 Authentication unsuccessful"}
	smtpAuthOff := &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}
	tests := []struct {
		name  string
		style testserver.Style
		check bool // call Check instead of Send
		// prime logs in once before the change, so a token is cached.
		prime  bool
		change func(*issuer)
		// want is nil when the call must succeed.
		want        *sdk.DeliveryError
		wantFetches int
		wantAuths   int32
	}{
		{
			name:  "a cached token that was revoked is replaced and the send retried",
			prime: true, change: (*issuer).revoke,
			wantFetches: 2, wantAuths: 3,
		},
		{
			name: "the same with Google's 334 challenge", style: testserver.StyleGoogle,
			prime: true, change: (*issuer).revoke,
			wantFetches: 2, wantAuths: 3,
		},
		{
			name: "Check retries too", check: true,
			prime: true, change: (*issuer).revoke,
			wantFetches: 2, wantAuths: 3,
		},
		{
			name:   "a fresh token that is rejected is not retried",
			change: func(is *issuer) { is.setReply(errors.New("no rights on the mailbox")) },
			want:   rejected, wantFetches: 1, wantAuths: 1,
		},
		{
			name: "Google: a fresh token that is rejected is not retried", style: testserver.StyleGoogle,
			change: func(is *issuer) { is.setReply(errors.New("no rights on the mailbox")) },
			want:   &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8"}, wantFetches: 1, wantAuths: 1,
		},
		{
			name:  "5.7.139 is not about the token: no retry, no new token",
			prime: true, change: func(is *issuer) { is.setReply(smtpAuthOff) },
			want:        &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.139"},
			wantFetches: 1, wantAuths: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := newIssuer()
			srv, s := setup(t, tt.style, is)
			if tt.prime {
				if err := s.Check(t.Context()); err != nil {
					t.Fatalf("first Check: %v", err)
				}
			}
			tt.change(is)
			var err error
			if tt.check {
				err = s.Check(t.Context())
			} else {
				var results []sdk.Result
				results, err = s.Send(t.Context(), []*sdk.Message{message("one@node")})
				if err == nil && (len(results) != 1 || results[0].Err != nil) {
					t.Fatalf("results %+v", results)
				}
			}
			if got := is.fetchCount(); got != tt.wantFetches {
				t.Errorf("%d token requests, want %d", got, tt.wantFetches)
			}
			if got := is.auths.Load(); got != tt.wantAuths {
				t.Errorf("%d AUTH commands, want %d", got, tt.wantAuths)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("error %v, want success", err)
				}
				if !tt.check && len(srv.Messages()) != 1 {
					t.Errorf("server holds %d messages, want 1", len(srv.Messages()))
				}
				return
			}
			var de *sdk.DeliveryError
			if !errors.As(err, &de) || de.Kind != tt.want.Kind || de.Code != tt.want.Code {
				t.Fatalf("error %v, want %s %s", err, tt.want.Kind, tt.want.Code)
			}
			if tt.want.Reply != "" && de.Reply != tt.want.Reply {
				t.Errorf("reply %q, want %q", de.Reply, tt.want.Reply)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

// TestSender_rejectedToken_nextCallFetches checks that a rejected fresh
// token is not used again: the next call fetches another.
func TestSender_rejectedToken_nextCallFetches(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	_, s := setup(t, testserver.StyleMicrosoft, is)
	is.setReply(errors.New("mailbox permission missing"))
	for i := 1; i <= 2; i++ {
		if err := s.Check(t.Context()); err == nil {
			t.Fatalf("Check %d succeeded", i)
		}
		if got := is.fetchCount(); got != i {
			t.Errorf("after Check %d: %d token requests, want %d", i, got, i)
		}
	}
	is.setReply(nil)
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check once the server accepts: %v", err)
	}
}

func TestSender_tokenError(t *testing.T) {
	t.Parallel()
	ca, caFile := xoauth2test.NewCA(t)
	srv := xoauth2test.StartSMTP(t, ca, false, testserver.StyleMicrosoft, func(string, string) error { return nil })
	permanent := sdk.PermanentError(errors.New("token endpoint: invalid_client"), "AADSTS7000215", "Use the secret's Value.")
	tests := []struct {
		name string
		err  error
		want sdk.Kind
	}{
		{name: "a classified error is kept", err: permanent, want: sdk.Permanent},
		{name: "an unknown error is temporary", err: errors.New("connection reset"), want: sdk.Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := xoauth2send.New(smtpsend.Options{
				Host: srv.Host(), Port: srv.Port(), Security: smtpsend.SecuritySTARTTLS, CAFile: caFile, Username: mailbox,
			}, func(context.Context) (*oauth2.Token, error) { return nil, tt.err }, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			results, err := s.Send(t.Context(), []*sdk.Message{message("one@node"), message("two@node")})
			if results != nil {
				t.Errorf("results %+v with a token error", results)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap %v", err, tt.err)
			}
			var de *sdk.DeliveryError
			if !errors.As(err, &de) || de.Kind != tt.want {
				t.Errorf("error %#v, want a %s *sdk.DeliveryError", err, tt.want)
			}
			if cerr := s.Check(t.Context()); !errors.Is(cerr, tt.err) {
				t.Errorf("Check error %v does not wrap %v", cerr, tt.err)
			}
		})
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections without a token, want none", n)
	}
}

func TestSender_Send_cancelled(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	srv, s := setup(t, testserver.StyleMicrosoft, is)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Send(ctx, []*sdk.Message{message("one@node")})
	if !sdk.IsTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want a temporary one wrapping context.Canceled", err)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections", n)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	fetch := newIssuer().fetch
	tests := []struct {
		name  string
		opts  smtpsend.Options
		fetch func(context.Context) (*oauth2.Token, error)
		want  string
	}{
		{name: "no fetcher", opts: smtpsend.Options{Host: "smtp.example.test", Username: mailbox}, want: "no token fetcher"},
		{name: "no mailbox", opts: smtpsend.Options{Host: "smtp.example.test"}, fetch: fetch, want: "no mailbox to log in as"},
		{name: "unreadable ca_file", opts: smtpsend.Options{Host: "smtp.example.test", Username: mailbox, CAFile: "/nonexistent/ca.pem"}, fetch: fetch, want: "read ca_file: open /nonexistent/ca.pem: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := xoauth2send.New(tt.opts, tt.fetch, time.Second)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSlot(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	_, s := setup(t, testserver.StyleMicrosoft, is)
	var sl xoauth2send.Slot
	check := func(step string, want error) {
		t.Helper()
		err := sl.Check(t.Context())
		_, serr := sl.Send(t.Context(), []*sdk.Message{message("one@node")})
		if want == nil {
			if err != nil || serr != nil {
				t.Errorf("%s: Check %v, Send %v; want success", step, err, serr)
			}
			return
		}
		if err != want || serr != want {
			t.Errorf("%s: Check %v, Send %v; want %v", step, err, serr, want)
		}
	}
	check("zero value", xoauth2send.ErrNotConfigured)
	sl.Set(s)
	check("Set", nil)
	_, noLogin := xoauth2send.NoLogin("o365", "mode", mailbox)
	sl.Fail(noLogin)
	check("Fail(no login)", noLogin)
	sl.Fail(nil)
	check("Fail(nil)", xoauth2send.ErrNotConfigured)
}

func TestNoLogin(t *testing.T) {
	t.Parallel()
	d, err := xoauth2send.NoLogin("o365", "mode", mailbox)
	const command = `"tocsin oauth login -config PATH -transport o365"`
	if d.Severity != sdk.SeverityWarning || d.Attribute != "mode" {
		t.Errorf("diagnostic %+v, want a warning about mode", d)
	}
	if want := `No refresh token stored for transport "o365": run ` + command; d.Summary != want {
		t.Errorf("summary %q, want %q", d.Summary, want)
	}
	if !strings.Contains(d.Detail, command) || !strings.Contains(d.Detail, mailbox) {
		t.Errorf("detail %q does not name the command and the mailbox", d.Detail)
	}
	if err.Kind != sdk.Permanent || err.Error() != `permanent error: no refresh token stored for transport "o365"` {
		t.Errorf("error %q (%s), want permanent", err, err.Kind)
	}
	if want := "Run " + command + " and sign in as " + mailbox + "."; err.Remedy != want {
		t.Errorf("remedy %q, want %q", err.Remedy, want)
	}
}
