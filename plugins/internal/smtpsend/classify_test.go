package smtpsend

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestSender_classify(t *testing.T) {
	t.Parallel()
	existing := sdk.PermanentError(errors.New("already classified"), "X1", "keep me")
	tests := []struct {
		name     string
		remedies []Remedy
		err      error
		want     *sdk.DeliveryError // nil: classify returns nil
		// same: classify must return this very error.
		same *sdk.DeliveryError
	}{
		{
			name: "nil",
			err:  nil,
		},
		{
			name: "already a delivery error, wrapped",
			err:  fmt.Errorf("send: %w", existing),
			same: existing,
		},
		{
			name: "421 is temporary with the default remedy",
			err:  &textproto.Error{Code: 421, Msg: "4.3.2 Service not available, closing transmission channel"},
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "421 4.3.2", Reply: "421 4.3.2 Service not available, closing transmission channel", Remedy: busyRemedy},
		},
		{
			name: "450 is temporary with the default remedy",
			err:  &textproto.Error{Code: 450, Msg: "4.2.1 Mailbox busy"},
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "450 4.2.1", Reply: "450 4.2.1 Mailbox busy", Remedy: busyRemedy},
		},
		{
			name: "451 without an enhanced code is temporary with the default remedy",
			err:  &textproto.Error{Code: 451, Msg: "Greylisted, try again later"},
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451", Reply: "451 Greylisted, try again later", Remedy: busyRemedy},
		},
		{
			name: "535 from AUTH, wrapped as go-mail does, is permanent with the login remedy",
			err:  fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 535, Msg: "5.7.8 Authentication credentials invalid"}),
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8", Reply: "535 5.7.8 Authentication credentials invalid", Remedy: genericRemedy(t, "535", "", "")},
		},
		{
			name: "534 5.7.9 asks for an app password",
			err:  &textproto.Error{Code: 534, Msg: "5.7.9 Application-specific password required"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "534 5.7.9", Reply: "534 5.7.9 Application-specific password required", Remedy: genericRemedy(t, "534", "5.7.9", "")},
		},
		{
			name: "534 with another enhanced code has no remedy",
			err:  &textproto.Error{Code: 534, Msg: "5.7.14 Please log in with your web browser"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "534 5.7.14", Reply: "534 5.7.14 Please log in with your web browser"},
		},
		{
			name: "530 asks for a login",
			err:  &textproto.Error{Code: 530, Msg: "5.7.0 Authentication required"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "530 5.7.0", Reply: "530 5.7.0 Authentication required", Remedy: genericRemedy(t, "530", "", "")},
		},
		{
			name: "538 asks for encryption before the login",
			err:  &textproto.Error{Code: 538, Msg: "5.7.11 Encryption required for requested authentication mechanism"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "538 5.7.11", Reply: "538 5.7.11 Encryption required for requested authentication mechanism", Remedy: genericRemedy(t, "538", "", "")},
		},
		{
			name: "relay denied wins over the 554 remedy",
			err:  &textproto.Error{Code: 554, Msg: "5.7.1 <ops@example.net>: Relay access denied"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "554 5.7.1", Reply: "554 5.7.1 <ops@example.net>: Relay access denied", Remedy: genericRemedy(t, "", "", "relay")},
		},
		{
			name: "relay denied wins over the address remedy",
			err:  &textproto.Error{Code: 550, Msg: "5.1.0 Relaying denied"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.0", Reply: "550 5.1.0 Relaying denied", Remedy: genericRemedy(t, "", "", "relay")},
		},
		{
			name: "553 5.1.8 rejects the sender address",
			err:  &textproto.Error{Code: 553, Msg: "5.1.8 Sender address rejected: Domain not found"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "553 5.1.8", Reply: "553 5.1.8 Sender address rejected: Domain not found", Remedy: genericRemedy(t, "", "5.1.", "")},
		},
		{
			name: "5.7.60 send-as denied",
			err:  &textproto.Error{Code: 550, Msg: "5.7.60 SMTP; Client does not have permissions to send as this sender"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.7.60", Reply: "550 5.7.60 SMTP; Client does not have permissions to send as this sender", Remedy: genericRemedy(t, "", "5.7.60", "")},
		},
		{
			name: "SendAsDenied in the text wins over the 554 remedy",
			err:  &textproto.Error{Code: 554, Msg: "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "554 5.2.0", Reply: "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied", Remedy: genericRemedy(t, "", "", "SendAsDenied")},
		},
		{
			name: "550 5.1.1 rejects an address",
			err:  &textproto.Error{Code: 550, Msg: "5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown", Remedy: genericRemedy(t, "", "5.1.", "")},
		},
		{
			name: "552 is too large",
			err:  &textproto.Error{Code: 552, Msg: "5.3.4 Message size exceeds fixed limit"},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "552 5.3.4", Reply: "552 5.3.4 Message size exceeds fixed limit", Remedy: genericRemedy(t, "552", "", "")},
		},
		{
			name:     "Options.Remedies come before the generic ones",
			remedies: []Remedy{{Code: "535", Text: "Use the provider's app password."}},
			err:      &textproto.Error{Code: 535, Msg: "5.7.8 Authentication credentials invalid"},
			want:     &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8", Reply: "535 5.7.8 Authentication credentials invalid", Remedy: "Use the provider's app password."},
		},
		{
			name:     "an Options remedy that does not match falls through to the generic ones",
			remedies: []Remedy{{Code: "535", Enhanced: "5.7.139", Text: "Turn on SMTP AUTH for the mailbox."}},
			err:      &textproto.Error{Code: 535, Msg: "5.7.8 Authentication credentials invalid"},
			want:     &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8", Reply: "535 5.7.8 Authentication credentials invalid", Remedy: genericRemedy(t, "535", "", "")},
		},
		{
			name:     "Remedy.Kind turns a 5xx temporary; Contains ignores case",
			remedies: []Remedy{{Code: "550", Contains: "rate limit", Kind: sdk.Temporary, Text: "The provider throttles this account; Tocsin retries."}},
			err:      &textproto.Error{Code: 550, Msg: "5.4.5 Daily user sending RATE LIMIT exceeded"},
			want:     &sdk.DeliveryError{Kind: sdk.Temporary, Code: "550 5.4.5", Reply: "550 5.4.5 Daily user sending RATE LIMIT exceeded", Remedy: "The provider throttles this account; Tocsin retries."},
		},
		{
			name:     "Remedy.Kind turns a 4xx permanent",
			remedies: []Remedy{{Code: "454", Enhanced: "4.7.0", Kind: sdk.Permanent, Text: "Log in again."}},
			err:      &textproto.Error{Code: 454, Msg: "4.7.0 Too many login attempts"},
			want:     &sdk.DeliveryError{Kind: sdk.Permanent, Code: "454 4.7.0", Reply: "454 4.7.0 Too many login attempts", Remedy: "Log in again."},
		},
		{
			name: "context deadline is temporary",
			err:  fmt.Errorf("dial: %w", context.DeadlineExceeded),
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Remedy: "The send ran out of time; Tocsin retries. If this lasts, raise the transport's timeout or check the server's load."},
		},
		{
			name: "mechanism not offered names the configured mechanism",
			err:  gomail.ErrPlainAuthNotSupported,
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Remedy: "The server does not offer the login mechanism PLAIN: pick an auth it lists in its EHLO reply."},
		},
		{
			name: "no AUTH at all points at STARTTLS or auth none",
			err:  errors.New("server does not support SMTP AUTH"),
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Remedy: "The server offers no login at all here (some offer AUTH only after STARTTLS): use security = \"starttls\" or \"tls\", or set auth = \"none\" for a relay that needs no login."},
		},
		{
			name: "an unknown failure is temporary without a remedy",
			err:  errors.New("something odd"),
			want: &sdk.DeliveryError{Kind: sdk.Temporary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Sender{opts: Options{Host: "smtp.example.test", Port: 587, Auth: gomail.SMTPAuthPlain, Remedies: tt.remedies}}
			got := s.classify(tt.err)
			switch {
			case tt.same != nil:
				if got != tt.same {
					t.Fatalf("classify returned %#v, want the delivery error it was given", got)
				}
			case tt.want == nil:
				if got != nil {
					t.Fatalf("classify(nil) = %#v, want nil", got)
				}
			default:
				checkDeliveryError(t, got, tt.want)
				if !errors.Is(got, tt.err) {
					t.Errorf("the delivery error does not wrap the cause %v", tt.err)
				}
			}
		})
	}
}

// TestSender_classify_real provokes TLS, connection and server failures
// for real and checks what Check makes of them.
func TestSender_classify_real(t *testing.T) {
	t.Parallel()
	ca, caFile := newCA(t)
	refused := closedPort(t)
	expired, expiredCA := expiredTLS(t)

	tests := []struct {
		name string
		// server is started unless port is set.
		server testserver.Options
		port   int
		opts   Options
		kind   sdk.Kind
		// remedy must be in the remedy; as, when set, must match the cause.
		remedy string
		as     func(error) bool
		code   string
	}{
		{
			name:   "unknown authority over STARTTLS",
			server: testserver.Options{TLS: serverTLS(t, ca)},
			opts:   Options{Security: SecuritySTARTTLS},
			kind:   sdk.Permanent,
			remedy: "set ca_file",
			as:     func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) },
		},
		{
			name:   "unknown authority over implicit TLS",
			server: testserver.Options{TLS: serverTLS(t, ca), Implicit: true},
			opts:   Options{Security: SecurityTLS},
			kind:   sdk.Permanent,
			remedy: "set ca_file",
			as:     func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) },
		},
		{
			name:   "certificate for another host name",
			server: testserver.Options{TLS: serverTLS(t, ca, "other.example")},
			opts:   Options{Security: SecuritySTARTTLS, CAFile: caFile},
			kind:   sdk.Permanent,
			remedy: "set host to a name the certificate lists",
			as:     func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
		},
		{
			name:   "implicit TLS against a plaintext server",
			server: testserver.Options{},
			opts:   Options{Security: SecurityTLS},
			kind:   sdk.Permanent,
			remedy: `use security = "starttls"`,
			as:     func(err error) bool { var e tls.RecordHeaderError; return errors.As(err, &e) },
		},
		{
			name:   "STARTTLS against an implicit-TLS port",
			server: testserver.Options{TLS: serverTLS(t, ca), Implicit: true},
			opts:   Options{Security: SecuritySTARTTLS, CAFile: caFile},
			kind:   sdk.Permanent,
			remedy: `set security = "tls"`,
		},
		{
			name:   "no TLS at all against an implicit-TLS port",
			server: testserver.Options{TLS: serverTLS(t, ca), Implicit: true},
			opts:   Options{Security: SecurityNone},
			kind:   sdk.Permanent,
			remedy: `set security = "tls"`,
		},
		{
			name:   "STARTTLS required but not offered",
			server: testserver.Options{},
			opts:   Options{Security: SecuritySTARTTLS},
			kind:   sdk.Permanent,
			remedy: "offers no STARTTLS",
		},
		{
			name:   "expired certificate",
			server: testserver.Options{TLS: expired},
			opts:   Options{Security: SecuritySTARTTLS, CAFile: expiredCA},
			kind:   sdk.Permanent,
			remedy: "The server's certificate is expired, not yet valid or not for a server: renew it, and check this host's clock.",
			as: func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.Expired
			},
		},
		{
			name:   "connection refused",
			port:   refused,
			opts:   Options{Security: SecurityNone},
			kind:   sdk.Temporary,
			remedy: "Cannot talk to 127.0.0.1:" + strconv.Itoa(refused),
		},
		{
			name:   "login against a server without AUTH",
			server: testserver.Options{},
			opts:   Options{Security: SecurityNone, Auth: gomail.SMTPAuthPlainNoEnc, Username: "alice", Secret: secret("s3cret")},
			kind:   sdk.Permanent,
			remedy: "offers no login at all",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.Host = "127.0.0.1"
			opts.Port = tt.port
			if opts.Port == 0 {
				opts.Port = testserver.StartT(t, tt.server).Port()
			}
			err := newSender(t, opts).Check(t.Context())
			if err == nil {
				t.Fatal("Check succeeded")
			}
			var de *sdk.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("error %T (%v), want *sdk.DeliveryError", err, err)
			}
			if de.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v (error: %v)", de.Kind, tt.kind, err)
			}
			if !strings.Contains(de.Remedy, tt.remedy) {
				t.Errorf("Remedy = %q, want it to contain %q", de.Remedy, tt.remedy)
			}
			if de.Code != tt.code {
				t.Errorf("Code = %q, want %q", de.Code, tt.code)
			}
			if tt.as != nil && !tt.as(err) {
				t.Errorf("cause %v is not of the expected type", err)
			}
		})
	}
}

func TestReceipt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp string
		want string
	}{
		{name: "empty", resp: "", want: "250"},
		{name: "text without code, as go-mail keeps it", resp: "2.0.0 OK: queued", want: "250 2.0.0 OK: queued"},
		{name: "plain text", resp: "Ok: queued as 4XyZ", want: "250 Ok: queued as 4XyZ"},
		{name: "white space trimmed", resp: "  OK id=1abc \r\n", want: "250 OK id=1abc"},
		{name: "already has a code", resp: "250 2.0.0 OK", want: "250 2.0.0 OK"},
		{name: "bare code", resp: "250", want: "250"},
		{name: "four digits are not a code", resp: "2500 items", want: "250 2500 items"},
		{name: "code without a space is not a code", resp: "250-OK", want: "250 250-OK"},
		{name: "1xx is not a reply code", resp: "199 x", want: "250 199 x"},
		{name: "6xx is not a reply code", resp: "600 x", want: "250 600 x"},
		{name: "letter in the code", resp: "25O x", want: "250 25O x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := receipt(tt.resp); got != tt.want {
				t.Errorf("receipt(%q) = %q, want %q", tt.resp, got, tt.want)
			}
		})
	}
}

func TestEnhancedMatches(t *testing.T) {
	tests := []struct {
		got, want string
		match     bool
	}{
		{"5.7.1", "5.7.1", true},
		{"5.7.139", "5.7.1", false},
		{"5.7.13", "5.7.1", false},
		{"5.1.1", "5.1.", true},
		{"5.7.60", "5.7.60", true},
		{"5.7.6", "5.7.60", false},
		{"", "5.7.1", false},
	}
	for _, tt := range tests {
		if got := enhancedMatches(tt.got, tt.want); got != tt.match {
			t.Errorf("enhancedMatches(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.match)
		}
	}
}

// replyKinds are SMTP replies a server gives to refuse a message: each 5xx
// is permanent (the fallback is tried at once) and each 4xx temporary
// (retried until max_age). Remedy is the remedy classify must give; a 5xx
// without one of its own must not get the "retries later" remedy of a 4xx.
var replyKinds = []struct {
	code     int
	enhanced smtp.EnhancedCode
	message  string
	kind     sdk.Kind
	remedy   func(t *testing.T) string
}{
	{500, smtp.EnhancedCode{5, 5, 2}, "Syntax error, command unrecognised", sdk.Permanent, noRemedy},
	{550, smtp.EnhancedCode{5, 7, 1}, "Message refused by policy", sdk.Permanent, noRemedy},
	{552, smtp.EnhancedCode{5, 3, 4}, "Message size exceeds fixed limit", sdk.Permanent, func(t *testing.T) string { return genericRemedy(t, "552", "", "") }},
	{554, smtp.EnhancedCode{5, 7, 1}, "Transaction failed", sdk.Permanent, func(t *testing.T) string { return genericRemedy(t, "554", "", "") }},
	{400, smtp.EnhancedCode{4, 5, 2}, "Temporary syntax trouble", sdk.Temporary, busy},
	{450, smtp.EnhancedCode{4, 7, 1}, "Policy says later", sdk.Temporary, busy},
	{452, smtp.EnhancedCode{4, 3, 4}, "Insufficient system storage", sdk.Temporary, busy},
	{454, smtp.EnhancedCode{4, 7, 0}, "Transaction failed for now", sdk.Temporary, busy},
}

func noRemedy(*testing.T) string { return "" }
func busy(*testing.T) string     { return busyRemedy }

// TestSender_classify_replyKind: the reply code alone decides whether a
// failure is permanent or temporary, with or without an enhanced code.
func TestSender_classify_replyKind(t *testing.T) {
	t.Parallel()
	for _, rk := range replyKinds {
		enhanced := fmt.Sprintf("%d.%d.%d", rk.enhanced[0], rk.enhanced[1], rk.enhanced[2])
		for _, msg := range []string{enhanced + " " + rk.message, rk.message} {
			t.Run(strconv.Itoa(rk.code)+" "+msg, func(t *testing.T) {
				s := &Sender{opts: Options{Host: "smtp.example.test", Port: 587}}
				err := &textproto.Error{Code: rk.code, Msg: msg}
				wantCode := strconv.Itoa(rk.code)
				if strings.HasPrefix(msg, enhanced) {
					wantCode += " " + enhanced
				}
				checkDeliveryError(t, s.classify(err), &sdk.DeliveryError{
					Kind: rk.kind, Code: wantCode, Reply: strconv.Itoa(rk.code) + " " + msg, Remedy: rk.remedy(t),
				})
				if got := sdk.IsTemporary(s.classify(err)); got != (rk.kind == sdk.Temporary) {
					t.Errorf("sdk.IsTemporary = %v for a %d reply", got, rk.code)
				}
			})
		}
	}
}

// TestSender_Send_replyKind sends to a real server that refuses the message
// with each reply, at MAIL, at RCPT and at the end of DATA.
func TestSender_Send_replyKind(t *testing.T) {
	t.Parallel()
	for _, rk := range replyKinds {
		for _, stage := range []testserver.Stage{testserver.StageMail, testserver.StageRcpt, testserver.StageData} {
			t.Run(fmt.Sprintf("%d at %v", rk.code, stage), func(t *testing.T) {
				t.Parallel()
				srv := testserver.StartT(t, testserver.Options{Fault: func(st testserver.Stage, _, _ int) *smtp.SMTPError {
					if st == stage {
						return &smtp.SMTPError{Code: rk.code, EnhancedCode: rk.enhanced, Message: rk.message}
					}
					return nil
				}})
				s := newSender(t, Options{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone})
				results, err := s.Send(t.Context(), []*sdk.Message{message("one@node")})
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				enhanced := fmt.Sprintf("%d.%d.%d", rk.enhanced[0], rk.enhanced[1], rk.enhanced[2])
				checkDeliveryError(t, results[0].Err, &sdk.DeliveryError{
					Kind:   rk.kind,
					Code:   fmt.Sprintf("%d %s", rk.code, enhanced),
					Reply:  fmt.Sprintf("%d %s %s", rk.code, enhanced, rk.message),
					Remedy: rk.remedy(t),
				})
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("server kept %d messages", n)
				}
			})
		}
	}
}

// TestSender_classify_EOF: a connection the server ends mid-conversation
// (io.EOF is not a net.Error) points the operator at host, port and
// firewall, and is retried.
func TestSender_classify_EOF(t *testing.T) {
	t.Parallel()
	const remedy = "Cannot talk to smtp.example.test:587: check host, port and firewall; Tocsin retries meanwhile."
	for _, err := range []error{
		io.EOF,
		io.ErrUnexpectedEOF,
		fmt.Errorf("failed to send EHLO: %w", io.EOF),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			s := &Sender{opts: Options{Host: "smtp.example.test", Port: 587}}
			got := checkDeliveryError(t, s.classify(err), &sdk.DeliveryError{Kind: sdk.Temporary, Remedy: remedy})
			if !errors.Is(got, err) {
				t.Errorf("the delivery error does not wrap the cause %v", err)
			}
		})
	}
}

// TestSender_Check_hangup: a server that ends the connection before its
// greeting, or after it at EHLO, gets the "cannot talk to host" remedy.
func TestSender_Check_hangup(t *testing.T) {
	t.Parallel()
	for _, greet := range []bool{false, true} {
		name := "before the greeting"
		if greet {
			name = "at EHLO"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := listenT(t, func(ln net.Listener) {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if greet {
						_, _ = c.Write([]byte("220 hangup.example.test ESMTP\r\n"))
						_, _ = bufio.NewReader(c).ReadString('\n') // EHLO
					}
					_ = c.Close()
				}
			})
			err := newSender(t, Options{Host: "127.0.0.1", Port: port, Security: SecurityNone}).Check(t.Context())
			var de *sdk.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Check = %v, want a *sdk.DeliveryError", err)
			}
			want := "Cannot talk to 127.0.0.1:" + strconv.Itoa(port) + ": check host, port and firewall; Tocsin retries meanwhile."
			if de.Kind != sdk.Temporary || de.Remedy != want {
				t.Errorf("Check = %v (kind %v, remedy %q), want temporary with remedy %q", err, de.Kind, de.Remedy, want)
			}
			if !errors.Is(err, io.EOF) {
				t.Errorf("Check = %v, want it to wrap io.EOF", err)
			}
		})
	}
}
