package smtpsend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestDefaultPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		security string
		want     int
	}{
		{name: "none", security: SecurityNone, want: 25},
		{name: "starttls", security: SecuritySTARTTLS, want: 587},
		{name: "tls", security: SecurityTLS, want: 465},
		{name: "empty is starttls", security: "", want: 587},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultPort(tt.security); got != tt.want {
				t.Errorf("DefaultPort(%q) = %d, want %d", tt.security, got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        Options
		wantErr     string
		wantPort    int
		wantTimeout time.Duration
	}{
		{name: "no host", opts: Options{}, wantErr: "no host"},
		{name: "defaults", opts: Options{Host: "smtp.example.test", Security: SecurityTLS}, wantPort: 465, wantTimeout: 30 * time.Second},
		{name: "explicit values kept", opts: Options{Host: "smtp.example.test", Port: 2525, Timeout: time.Second}, wantPort: 2525, wantTimeout: time.Second},
		{name: "missing ca_file", opts: Options{Host: "smtp.example.test", CAFile: filepath.Join(t.TempDir(), "missing.pem")}, wantErr: "read ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				if s != nil {
					t.Errorf("New returned a Sender with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.opts.Port != tt.wantPort || s.opts.Timeout != tt.wantTimeout {
				t.Errorf("port %d, timeout %v; want %d, %v", s.opts.Port, s.opts.Timeout, tt.wantPort, tt.wantTimeout)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	ca, caFile := newCA(t)
	dir := t.TempDir()
	noPEM := filepath.Join(dir, "not-a-cert.pem")
	if err := os.WriteFile(noPEM, []byte("this is not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name       string
		caFile     string
		skipVerify bool
		// wantErr is the whole error text; wantIs a cause it must wrap.
		wantErr   string
		wantIs    error
		wantRoots bool
	}{
		{name: "no ca_file uses the system roots", caFile: ""},
		{name: "skip verify is passed on", skipVerify: true},
		{name: "ca_file adds the CA", caFile: caFile, wantRoots: true},
		{name: "missing ca_file", caFile: missing, wantErr: "read ca_file: open " + missing + ": no such file or directory", wantIs: fs.ErrNotExist},
		{name: "ca_file without PEM", caFile: noPEM, wantErr: "ca_file " + noPEM + " holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := TLSConfig("smtp.example.test", tt.caFile, tt.skipVerify)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %v does not wrap %v", err, tt.wantIs)
				}
				if tc != nil {
					t.Error("a config came with the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("TLSConfig: %v", err)
			}
			if tc.ServerName != "smtp.example.test" {
				t.Errorf("ServerName = %q", tc.ServerName)
			}
			if tc.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x, want TLS 1.2", tc.MinVersion)
			}
			if tc.InsecureSkipVerify != tt.skipVerify {
				t.Errorf("InsecureSkipVerify = %v, want %v", tc.InsecureSkipVerify, tt.skipVerify)
			}
			if (tc.RootCAs != nil) != tt.wantRoots {
				t.Fatalf("RootCAs set = %v, want %v", tc.RootCAs != nil, tt.wantRoots)
			}
			if tt.wantRoots {
				leaf := serverTLS(t, ca, "smtp.example.test").Certificates[0].Leaf
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.ServerName, Roots: tc.RootCAs}); err != nil {
					t.Errorf("a certificate of the CA does not verify: %v", err)
				}
			}
		})
	}
}

func TestSender_Check(t *testing.T) {
	t.Parallel()
	ca, caFile := newCA(t)
	srv := testserver.StartT(t, testserver.Options{TLS: serverTLS(t, ca), Users: map[string]string{"alice": "s3cret"}})
	tests := []struct {
		name     string
		username string
		password string
		want     *sdk.DeliveryError // nil: Check succeeds
	}{
		{name: "valid credentials", username: "alice", password: "s3cret"},
		{
			name: "wrong password", username: "alice", password: "nope",
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8", Reply: "535 5.7.8 Authentication credentials invalid", Remedy: genericRemedy(t, "535", "", "")},
		},
		{
			name: "unknown user", username: "mallory", password: "s3cret",
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.8", Reply: "535 5.7.8 Authentication credentials invalid", Remedy: genericRemedy(t, "535", "", "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSender(t, Options{
				Host: srv.Host(), Port: srv.Port(), Security: SecuritySTARTTLS, CAFile: caFile,
				Auth: gomail.SMTPAuthPlain, Username: tt.username, Secret: secret(tt.password),
			})
			err := s.Check(t.Context())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			checkDeliveryError(t, err, tt.want)
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Check sent %d messages", n)
	}
}

func TestSender_Check_secretError(t *testing.T) {
	t.Parallel()
	srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"alice": "s3cret"}, AllowInsecureAuth: true})
	tokenErr := errors.New("token endpoint said no")
	s := newSender(t, Options{
		Host: srv.Host(), Port: srv.Port(), Security: SecurityNone,
		Auth: gomail.SMTPAuthPlainNoEnc, Username: "alice",
		Secret: func(context.Context) (string, error) { return "", tokenErr },
	})
	err := s.Check(t.Context())
	if !errors.Is(err, tokenErr) {
		t.Fatalf("Check error = %v, want it to wrap %v", err, tokenErr)
	}
	if !sdk.IsTemporary(err) {
		t.Errorf("Check error %v is permanent, want temporary", err)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections without a secret, want none", n)
	}
}

func TestSender_Send(t *testing.T) {
	t.Parallel()
	ca, caFile := newCA(t)
	srv := testserver.StartT(t, testserver.Options{TLS: serverTLS(t, ca), Users: map[string]string{"alice": "s3cret"}})
	s := newSender(t, Options{
		Host: srv.Host(), Port: srv.Port(), Security: SecuritySTARTTLS, CAFile: caFile,
		Auth: gomail.SMTPAuthPlain, Username: "alice", Secret: secret("s3cret"),
		UserAgent: "tocsin-test/1",
	})
	bad := message("bad@node")
	bad.To = nil
	msgs := []*sdk.Message{message("one@node"), bad, message("two@node")}

	results, err := s.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(results), len(msgs))
	}
	for i, r := range results {
		if r.MessageID != msgs[i].ID {
			t.Errorf("result %d is for %q, want %q", i, r.MessageID, msgs[i].ID)
		}
	}
	for _, i := range []int{0, 2} {
		if results[i].Err != nil {
			t.Errorf("result %d: %v", i, results[i].Err)
		}
		if results[i].Receipt != "250 2.0.0 OK: queued" {
			t.Errorf("result %d: receipt %q", i, results[i].Receipt)
		}
	}
	if results[1].Receipt != "" {
		t.Errorf("the bad message has receipt %q", results[1].Receipt)
	}
	de := checkDeliveryError(t, results[1].Err, &sdk.DeliveryError{
		Kind: sdk.Permanent, Remedy: "The agent produced a message that cannot be sent; report this as a bug.",
	})
	if want := "build message: message has no recipient"; de.Err == nil || de.Err.Error() != want {
		t.Errorf("cause = %v, want %q", de.Err, want)
	}

	got := srv.Messages()
	if len(got) != 2 {
		t.Fatalf("server received %d messages, want 2", len(got))
	}
	for i, id := range []string{"one@node", "two@node"} {
		m := got[i]
		if m.Conn != 1 {
			t.Errorf("message %s came on connection %d, want one connection for the batch", id, m.Conn)
		}
		if !m.TLS || m.User != "alice" || m.Mechanism != testserver.MechPlain {
			t.Errorf("message %s: TLS %v, user %q, mechanism %q", id, m.TLS, m.User, m.Mechanism)
		}
		if m.From != "alerts@example.test" || len(m.To) != 1 || m.To[0] != "ops@example.test" {
			t.Errorf("message %s: envelope %s -> %v", id, m.From, m.To)
		}
		for _, h := range []string{"Message-ID: <" + id + ">\r\n", "User-Agent: tocsin-test/1\r\n"} {
			if !bytes.Contains(m.Data, []byte(h)) {
				t.Errorf("message %s lacks %q:\n%s", id, h, m.Data)
			}
		}
	}
}

func TestSender_Send_nothingToSend(t *testing.T) {
	t.Parallel()
	// Nothing listens on the port: a batch of only bad messages must not
	// even connect.
	s := newSender(t, Options{Host: "127.0.0.1", Port: closedPort(t), Security: SecurityNone})
	bad := message("bad@node")
	bad.From = sdk.Address{}
	results, err := s.Send(t.Context(), []*sdk.Message{bad})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	de := checkDeliveryError(t, results[0].Err, &sdk.DeliveryError{
		Kind: sdk.Permanent, Remedy: "The agent produced a message that cannot be sent; report this as a bug.",
	})
	if want := "build message: message has no From address"; de.Err == nil || de.Err.Error() != want {
		t.Errorf("cause = %v, want %q", de.Err, want)
	}
}

func TestSender_Send_batchError(t *testing.T) {
	t.Parallel()
	ca, _ := newCA(t)
	srv := testserver.StartT(t, testserver.Options{TLS: serverTLS(t, ca)})
	// No ca_file: STARTTLS fails, which fails the whole batch.
	s := newSender(t, Options{Host: srv.Host(), Port: srv.Port(), Security: SecuritySTARTTLS})
	results, err := s.Send(t.Context(), []*sdk.Message{message("one@node"), message("two@node")})
	if results != nil {
		t.Errorf("results = %+v with a batch error, want nil", results)
	}
	var de *sdk.DeliveryError
	if !errors.As(err, &de) || de.Kind != sdk.Permanent || !strings.Contains(de.Remedy, "ca_file") {
		t.Fatalf("error = %#v, want a permanent error about ca_file", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

// TestSender_Send_serverReplies checks that the server's per-message
// replies, which go-mail reports as *gomail.SendError, are classified.
func TestSender_Send_serverReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault testserver.Fault
		want  *sdk.DeliveryError
	}{
		{
			name: "550 5.1.1 at RCPT",
			fault: func(stage testserver.Stage, _, msg int) *smtp.SMTPError {
				if stage == testserver.StageRcpt && msg == 1 {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
				}
				return nil
			},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 No such user", Remedy: genericRemedy(t, "", "5.1.", "")},
		},
		{
			name: "451 at the end of DATA",
			fault: func(stage testserver.Stage, _, msg int) *smtp.SMTPError {
				if stage == testserver.StageData && msg == 1 {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
				}
				return nil
			},
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: "451 4.3.0 Try again later", Remedy: busyRemedy},
		},
		{
			name: "5.7.60 at MAIL",
			fault: func(stage testserver.Stage, _, msg int) *smtp.SMTPError {
				if stage == testserver.StageMail && msg == 1 {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60}, Message: "Client does not have permissions to send as this sender"}
				}
				return nil
			},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.7.60", Reply: "550 5.7.60 Client does not have permissions to send as this sender", Remedy: genericRemedy(t, "", "5.7.60", "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.StartT(t, testserver.Options{Fault: tt.fault})
			s := newSender(t, Options{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone})
			results, err := s.Send(t.Context(), []*sdk.Message{message("one@node"), message("two@node")})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(results) != 2 {
				t.Fatalf("%d results, want 2", len(results))
			}
			// The reply text is checked by TestSender_Send_replyText.
			want := *tt.want
			if de, ok := results[0].Err.(*sdk.DeliveryError); ok {
				want.Reply = de.Reply
			}
			checkDeliveryError(t, results[0].Err, &want)
			if results[0].Receipt != "" {
				t.Errorf("failed message has receipt %q", results[0].Receipt)
			}
			if results[1].Err != nil || results[1].Receipt != "250 2.0.0 OK: queued" {
				t.Errorf("second message: receipt %q, error %v; want it delivered", results[1].Receipt, results[1].Err)
			}
			got := srv.Messages()
			if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("Message-ID: <two@node>")) {
				t.Errorf("server holds %d messages, want only two@node", len(got))
			}
		})
	}
}

// TestSender_Send_replyText checks that Reply holds the server's reply as
// it was sent, for the per-message replies go-mail reports as a
// *gomail.SendError (Check's login replies are covered by TestSender_Check).
// go-mail writes "<what it was doing>: <reply>[, <more errors>], affected
// recipient(s): …, affected message ID: …": Reply is the server's first
// reply alone and whole, none of go-mail's additions and nothing cut from
// the server's own text, even when that text holds go-mail's ", affected "
// or a second rejection follows it.
func TestSender_Send_replyText(t *testing.T) {
	t.Parallel()
	addressRemedy := genericRemedy(t, "", "5.1.", "")
	tests := []struct {
		name  string
		stage testserver.Stage
		reply *smtp.SMTPError
		to    []sdk.Address // one recipient when nil
		want  *sdk.DeliveryError
	}{
		{
			name:  "one line",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 No such user", Remedy: addressRemedy},
		},
		{
			// go-smtp puts the enhanced code on the last line only: it
			// must still be found, or the remedy is lost.
			name:  "several lines",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "The account does not exist.\nCheck the address."},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 The account does not exist.\n5.1.1 Check the address.", Remedy: addressRemedy},
		},
		{
			name:  "several lines, each with a code",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "5.1.1 The account does not exist.\nCheck the address."},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 The account does not exist.\n5.1.1 Check the address.", Remedy: addressRemedy},
		},
		{
			name:  "quotes in the text",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: `Mailbox "ops" is unknown`},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: `550 5.1.1 Mailbox "ops" is unknown`, Remedy: addressRemedy},
		},
		{
			// The server hangs up after a 421, so the RSET after it
			// fails; its error is not part of the reply.
			name:  "421 at MAIL",
			stage: testserver.StageMail,
			reply: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Closing"},
			want:  &sdk.DeliveryError{Kind: sdk.Temporary, Code: "421 4.3.0", Reply: "421 4.3.0 Closing", Remedy: busyRemedy},
		},
		{
			name:  "', affected ' in the server's text at RCPT",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled, affected users were told"},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.2.1", Reply: "550 5.2.1 Mailbox disabled, affected users were told"},
		},
		{
			name:  "', affected ' in the server's text at MAIL",
			stage: testserver.StageMail,
			reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Queue busy, affected senders retry"},
			want:  &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: "451 4.3.0 Queue busy, affected senders retry", Remedy: busyRemedy},
		},
		{
			name:  "two recipients rejected",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			to:    []sdk.Address{{Address: "a@example.test"}, {Address: "b@example.test"}},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 No such user", Remedy: addressRemedy},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
				if stage == tt.stage {
					return tt.reply
				}
				return nil
			}})
			s := newSender(t, Options{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone})
			m := message("one@node")
			if tt.to != nil {
				m.To = tt.to
			}
			results, err := s.Send(t.Context(), []*sdk.Message{m})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkDeliveryError(t, results[0].Err, tt.want)
		})
	}
}

// TestSender_Send_connectionLost covers a connection that dies after the
// login: no message may be reported as delivered unless the server
// accepted it, and one the server accepted must not be reported as failed.
func TestSender_Send_connectionLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// reply answers the server's commands; see rawServer.
		reply func(cmd string) (string, bool)
		// delivered[i] says whether the server accepted message i.
		delivered []bool
	}{
		{
			name: "dies before the first message",
			reply: func(cmd string) (string, bool) {
				// No NOOP before the batch: MAIL is the first command
				// after the login. The message is tried again on a new
				// connection, which is refused.
				if cmd == "MAIL" {
					return "421 4.3.0 Shutting down", true
				}
				return "250 2.0.0 OK", false
			},
			delivered: []bool{false, false},
		},
		{
			name: "dies after accepting the first message",
			reply: func(cmd string) (string, bool) {
				if cmd == "." {
					return "250 2.0.0 Ok: queued as A1", true
				}
				return "250 2.0.0 OK", false
			},
			delivered: []bool{true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startRawServer(t, tt.reply)
			s := newSender(t, Options{Host: "127.0.0.1", Port: srv.port(), Security: SecurityNone})
			msgs := []*sdk.Message{message("one@node"), message("two@node")}
			results, err := s.Send(t.Context(), msgs)
			if err != nil {
				// A batch error says nothing was accepted; it must be
				// temporary.
				if !sdk.IsTemporary(err) {
					t.Errorf("batch error %v is permanent", err)
				}
				for i, d := range tt.delivered {
					if d {
						t.Errorf("batch error %v although the server accepted message %d", err, i)
					}
				}
				return
			}
			if len(results) != len(msgs) {
				t.Fatalf("%d results for %d messages", len(results), len(msgs))
			}
			for i, d := range tt.delivered {
				r := results[i]
				switch {
				case d && (r.Err != nil || r.Receipt == ""):
					t.Errorf("message %d was accepted by the server but reported as receipt %q, error %v", i, r.Receipt, r.Err)
				case !d && (r.Err == nil || r.Receipt != ""):
					t.Errorf("message %d never reached the server but reported as receipt %q, error %v", i, r.Receipt, r.Err)
				case !d && !sdk.IsTemporary(r.Err):
					t.Errorf("message %d: error %v is permanent, want temporary", i, r.Err)
				}
			}
			t.Logf("server saw %q", srv.commands())
		})
	}
}

// TestSender_Send_contextEnds: when the send's context ends after the
// login (the agent's attempt timeout, or shutdown), the messages not yet
// sent are retried: their errors are temporary and say why.
func TestSender_Send_contextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := startRawServer(t, func(cmd string) (string, bool) {
		// The context ends at the first command after the login, MAIL
		// (there is no NOOP before the batch), whose reply never comes.
		if cmd == "MAIL" {
			cancel()
			return "", false
		}
		return "250 2.0.0 OK", false
	})
	s := newSender(t, Options{Host: "127.0.0.1", Port: srv.port(), Security: SecurityNone})
	results, err := s.Send(ctx, []*sdk.Message{message("one@node"), message("two@node")})
	if err != nil {
		t.Fatalf("Send: %v, want a result per message", err)
	}
	for i, r := range results {
		if r.Receipt != "" || !sdk.IsTemporary(r.Err) || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("message %d: receipt %q, error %v; want a temporary error for the ended context", i, r.Receipt, r.Err)
		}
	}
}
