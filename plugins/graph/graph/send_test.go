package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestTransport_Send_mapping checks what reaches Graph for each part of a
// message the acceptance test does not cover.
func TestTransport_Send_mapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tests := []struct {
		name     string
		settings map[string]any
		mut      func(m *sdk.Message)
		check    func(t *testing.T, got testserver.GraphMessage)
	}{
		{
			name: "text only",
			check: func(t *testing.T, got testserver.GraphMessage) {
				if b := got.Message.Body; b.ContentType != "Text" || b.Content != "The disk is full.\n" {
					t.Errorf("body = %+v, want the text", b)
				}
				if got.SaveToSentItems {
					t.Error("saveToSentItems is true by default")
				}
			},
		},
		{
			name:     "save_to_sent_items",
			settings: map[string]any{"save_to_sent_items": true},
			check: func(t *testing.T, got testserver.GraphMessage) {
				if !got.SaveToSentItems {
					t.Error("saveToSentItems = false with save_to_sent_items = true")
				}
			},
		},
		{
			name: "only X- headers travel, the message ID first",
			mut: func(m *sdk.Message) {
				m.Headers = []sdk.Header{
					{Name: "X-Tocsin-Rule", Value: "disk\r\nBcc: evil@example.com"},
					{Name: "Auto-Submitted", Value: "auto-generated"},
					{Name: "x-priority", Value: "1"},
					{Name: "X-Tocsin-Message-ID", Value: "forged@node"},
				}
			},
			check: func(t *testing.T, got testserver.GraphMessage) {
				want := []testserver.GraphHeader{
					{Name: graph.MessageIDHeader, Value: "map-3@node"},
					{Name: "X-Tocsin-Rule", Value: "disk  Bcc: evil@example.com"},
					{Name: "x-priority", Value: "1"},
				}
				if fmt.Sprint(got.Message.InternetMessageHeaders) != fmt.Sprint(want) {
					t.Errorf("headers = %+v, want %+v", got.Message.InternetMessageHeaders, want)
				}
			},
		},
		{
			name: "attachment without name or type, reply-to",
			mut: func(m *sdk.Message) {
				m.ReplyTo = []sdk.Address{{Address: "noc@contoso.example"}}
				m.Attachments = []sdk.Attachment{{Data: []byte{0, 1, 2, 255}}}
			},
			check: func(t *testing.T, got testserver.GraphMessage) {
				a := got.Message.Attachments
				if len(a) != 1 || a[0].Name != "attachment-1" || a[0].ContentType != "application/octet-stream" || !bytes.Equal(a[0].ContentBytes, []byte{0, 1, 2, 255}) {
					t.Errorf("attachments = %+v", a)
				}
				if r := got.Message.ReplyTo; len(r) != 1 || r[0].EmailAddress.Address != "noc@contoso.example" {
					t.Errorf("replyTo = %+v, want noc@contoso.example", r)
				}
			},
		},
		{
			name: "names and subject on one line, Bcc only",
			mut: func(m *sdk.Message) {
				m.Subject = "disk\nfull"
				m.To = nil
				m.Bcc = []sdk.Address{{Name: "Audit\r\nTeam", Address: "audit@contoso.example"}}
			},
			check: func(t *testing.T, got testserver.GraphMessage) {
				msg := got.Message
				if msg.Subject != "disk full" || len(msg.ToRecipients) != 0 || len(msg.BccRecipients) != 1 ||
					msg.BccRecipients[0].EmailAddress != (testserver.GraphEmailAddress{Address: "audit@contoso.example", Name: "Audit  Team"}) {
					t.Errorf("message = %+v", msg)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustConfigure(t, e.settings(tt.settings))
			m := message(fmt.Sprintf("map-%d@node", i+1))
			if tt.mut != nil {
				tt.mut(m)
			}
			if err := sendOne(t, tr, m); err != nil {
				t.Fatalf("send: %v", err)
			}
			var got *testserver.GraphMessage
			for _, gm := range e.graph.Messages() {
				for _, h := range gm.Message.InternetMessageHeaders {
					if h.Name == graph.MessageIDHeader && h.Value == m.ID {
						got = &gm
					}
				}
			}
			if got == nil {
				t.Fatalf("Graph has no message %s", m.ID)
			}
			if got.User != mailbox {
				t.Errorf("user = %q, want %q", got.User, mailbox)
			}
			tt.check(t, *got)
		})
	}
}

// TestTransport_Send_tokenCaching sends 50 messages, half of them at once,
// with one token.
func TestTransport_Send_tokenCaching(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tr := mustConfigure(t, e.settings(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		send := func() {
			results, err := tr.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("cache-%d@node", i))})
			if err == nil {
				err = results[0].Err
			}
			errs <- err
		}
		if i%2 == 0 {
			wg.Go(send)
		} else {
			send()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("send: %v", err)
		}
	}
	if n := len(e.graph.Messages()); n != 50 {
		t.Errorf("Graph accepted %d messages, want 50", n)
	}
	if n := e.tokenRequests(); n != 1 {
		t.Errorf("%d token requests for 50 sends, want 1", n)
	}
}

// TestTransport_Send_tokenExpiry sends for about 4 s with tokens that live
// 2 s and a grace of 1 s: new tokens come before the old ones expire, so
// Graph never sees an expired token and no send fails.
func TestTransport_Send_tokenExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{TokenLifetime: 2 * time.Second})
	tr := mustConfigure(t, e.settings(map[string]any{"token_grace": "1s"}))
	start := time.Now()
	sent := 0
	for time.Since(start) < 4*time.Second {
		sent++
		if err := sendOne(t, tr, message(fmt.Sprintf("expiry-%d@node", sent))); err != nil {
			t.Fatalf("send %d after %v: %v", sent, time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if n := e.rejections(); n != 0 {
		t.Errorf("Graph rejected %d tokens (expired ones, as the cache renewed too late)", n)
	}
	// A token is replaced 1 s after it was issued (grace 1 s before its
	// 2 s expiry): at 0, 1, 2 and 3 s. Without the grace it would be
	// replaced at 0 and 2 s only.
	if n := e.tokenRequests(); n < 4 || n > 6 {
		t.Errorf("%d token requests in 4 s, want 4 (one a second)", n)
	}
	if got := len(e.graph.Messages()); got != sent {
		t.Errorf("Graph accepted %d of %d messages", got, sent)
	}
}

// TestTransport_Send_errors provokes each error Graph and the identity
// platform give a sender and checks its classification and remedy.
func TestTransport_Send_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        envOptions
		settings   map[string]any
		setup      func(e *env)
		mut        func(m *sdk.Message)
		batch      bool // the whole batch fails, not the message
		kind       sdk.Kind
		code       string
		remedy     string
		retryAfter time.Duration
		requests   int // sendMail requests Graph receives
	}{
		{
			name:     "no Mail.Send application permission",
			setup:    func(e *env) { e.setRoles("Mail.Send.Shared") },
			kind:     sdk.Permanent,
			code:     "ErrorAccessDenied",
			remedy:   "Mail.Send APPLICATION permission with admin consent",
			requests: 1,
		},
		{
			name:     "mailbox not in Exchange Online",
			setup:    func(e *env) { e.graph.DisableMailbox(strings.ToUpper(mailbox)) },
			kind:     sdk.Permanent,
			code:     "MailboxNotEnabledForRESTAPI",
			remedy:   "must be an Exchange Online mailbox with a license",
			requests: 1,
		},
		{
			name:       "throttled",
			setup:      func(e *env) { e.graph.Throttle(1, 7*time.Second) },
			kind:       sdk.Temporary,
			code:       "ApplicationThrottled",
			remedy:     "slow down",
			retryAfter: 7 * time.Second,
			requests:   1,
		},
		{
			name:     "wrong client secret",
			settings: map[string]any{"client_secret": "Zq8~the-secret-ID-not-its-Value"},
			batch:    true,
			kind:     sdk.Permanent,
			code:     "AADSTS7000215",
			remedy:   "Value",
		},
		{
			name: "attachments over 3 MB",
			mut: func(m *sdk.Message) {
				m.Attachments = []sdk.Attachment{{Filename: "big.log", Data: make([]byte, 3<<20)}}
			},
			kind:     sdk.Permanent,
			remedy:   "upload sessions, which this transport does not do yet; use smtp-oauth-ms or send smaller attachments",
			requests: 0,
		},
		{
			name: "request over Graph's size limit",
			env:  envOptions{MaxRequestBytes: 256 << 10},
			mut: func(m *sdk.Message) {
				m.Attachments = []sdk.Attachment{{Filename: "log.txt", Data: make([]byte, 1<<20)}}
			},
			kind:     sdk.Permanent,
			code:     "RequestEntityTooLarge",
			remedy:   "attach less",
			requests: 1,
		},
		{
			name:     "invalid recipient",
			mut:      func(m *sdk.Message) { m.To = []sdk.Address{{Address: "oncall"}} },
			kind:     sdk.Permanent,
			code:     "ErrorInvalidRecipients",
			remedy:   "check the addresses",
			requests: 1,
		},
		{
			name:     "token rejected twice",
			setup:    func(e *env) { e.setReject(func(int) bool { return true }) },
			kind:     sdk.Temporary,
			code:     "InvalidAuthenticationToken",
			remedy:   "authority and graph_endpoint",
			requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.env)
			if tt.setup != nil {
				tt.setup(e)
			}
			tr := mustConfigure(t, e.settings(tt.settings))
			m := message("err@node")
			if tt.mut != nil {
				tt.mut(m)
			}
			results, err := tr.Send(t.Context(), []*sdk.Message{m})
			if tt.batch {
				if results != nil {
					t.Errorf("results %+v with a batch error", results)
				}
			} else {
				if err != nil || len(results) != 1 {
					t.Fatalf("Send = %+v, %v; want one result", results, err)
				}
				err = results[0].Err
			}
			de := checkDeliveryError(t, err, tt.kind, tt.code, tt.remedy)
			if de.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", de.RetryAfter, tt.retryAfter)
			}
			if tt.code != "" && !strings.Contains(de.Reply, tt.code) {
				t.Errorf("reply %q does not keep Graph's code", de.Reply)
			}
			if n := e.graph.Requests(); n != tt.requests {
				t.Errorf("Graph received %d requests, want %d", n, tt.requests)
			}
			if len(e.graph.Messages()) != 0 {
				t.Errorf("Graph accepted the message")
			}
			for _, s := range append(e.seenTokens(), secret) {
				if strings.Contains(err.Error()+de.Reply+de.Remedy, s) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// TestTransport_Send_tokenRevoked checks that a token Graph rejects is
// replaced and the message sent with the new one.
func TestTransport_Send_tokenRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tr := mustConfigure(t, e.settings(nil))
	if err := sendOne(t, tr, message("before@node")); err != nil {
		t.Fatal(err)
	}
	e.setReject(func(n int) bool { return n == 1 }) // the cached token, used again
	if err := sendOne(t, tr, message("after@node")); err != nil {
		t.Fatalf("send with a revoked token: %v", err)
	}
	if n := e.tokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if n, m := e.graph.Requests(), len(e.graph.Messages()); n != 3 || m != 2 {
		t.Errorf("Graph got %d requests and accepted %d messages, want 3 and 2", n, m)
	}
}

// TestTransport_Send_tokenFailsMidBatch: when the token must be replaced
// after a message went out and the new one cannot be had, the rest of the
// batch fails with the token error and the sent message keeps its receipt.
func TestTransport_Send_tokenFailsMidBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tr := mustConfigure(t, e.settings(nil))
	e.setReject(func(n int) bool {
		if n == 0 {
			return false
		}
		// The secret was rotated in the app registration meanwhile.
		_ = e.ms.AddApp(testserver.MicrosoftApp{Tenant: tenant, ClientID: clientID, Secret: "rotated-" + secret, AppScopes: []string{graph.Scope}})
		return true
	})
	msgs := []*sdk.Message{message("one@node"), message("two@node"), message("three@node")}
	results, err := tr.Send(t.Context(), msgs)
	if err != nil || len(results) != 3 {
		t.Fatalf("Send = %+v, %v; want three results", results, err)
	}
	if results[0].Err != nil || results[0].Receipt != graph.Receipt {
		t.Errorf("first message: %+v, want delivered", results[0])
	}
	for i, r := range results[1:] {
		if r.MessageID != msgs[i+1].ID {
			t.Errorf("result %d is for %s", i+1, r.MessageID)
		}
		checkDeliveryError(t, r.Err, sdk.Permanent, "AADSTS7000215", "Value")
	}
	if n := e.graph.Requests(); n != 2 {
		t.Errorf("Graph received %d requests, want 2 (the third message is not tried)", n)
	}
}

// TestTransport_certificate sends with a certificate credential, the key
// in its own file or in the certificate's.
func TestTransport_certificate(t *testing.T) {
	t.Parallel()
	cert, key := rsaCertificate(t)
	e := newEnv(t, envOptions{Certificate: cert})
	dir := t.TempDir()
	certFile := pemFile(t, dir, "cert.pem", certBlock(cert))
	keyFile := pemFile(t, dir, "key.pem", keyBlock(t, key))
	bothFile := pemFile(t, dir, "both.pem", keyBlock(t, key), certBlock(cert))
	for name, s := range map[string]map[string]any{
		"separate key file":       {"client_secret": nil, "client_certificate": certFile, "client_key": keyFile},
		"key in certificate file": {"client_secret": nil, "client_certificate": bothFile},
	} {
		t.Run(name, func(t *testing.T) {
			tr := mustConfigure(t, e.settings(s))
			if err := tr.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := sendOne(t, tr, message(strings.ReplaceAll(name, " ", "-")+"@node")); err != nil {
				t.Fatalf("send: %v", err)
			}
		})
	}
	if n := len(e.graph.Messages()); n != 2 {
		t.Errorf("Graph accepted %d messages, want 2", n)
	}
}

func TestTransport_Check(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	otherCA, _ := newCA(t)
	untrusted := testserver.StartGraphT(t, otherCA, testserver.GraphOptions{Validate: e.validate})
	tests := []struct {
		name     string
		settings map[string]any
		kind     sdk.Kind // 0: success
		code     string
		remedy   string
	}{
		{name: "good"},
		{name: "wrong secret", settings: map[string]any{"client_secret": "Zq8~wrong"}, kind: sdk.Permanent, code: "AADSTS7000215", remedy: "Value"},
		{name: "unknown tenant", settings: map[string]any{"tenant_id": "fabrikam.example"}, kind: sdk.Permanent, code: "AADSTS90002", remedy: "tenant_id"},
		{name: "graph_endpoint unreachable", settings: map[string]any{"graph_endpoint": closed}, kind: sdk.Temporary, remedy: "Cannot reach"},
		{name: "graph_endpoint certificate from another CA", settings: map[string]any{"graph_endpoint": untrusted.URL()}, kind: sdk.Permanent, remedy: "set ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustConfigure(t, e.settings(tt.settings))
			err := tr.Check(t.Context())
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			checkDeliveryError(t, err, tt.kind, tt.code, tt.remedy)
		})
	}
	if n := e.graph.Requests(); n != 0 {
		t.Errorf("Check made %d sendMail requests", n)
	}
}

// TestTransport_Send_cancelled checks that a Send whose context ends while
// a request is in flight returns at once with temporary errors.
func TestTransport_Send_cancelled(t *testing.T) {
	t.Parallel()
	// A Graph endpoint that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	e := newEnv(t, envOptions{})
	tr := mustConfigure(t, e.settings(map[string]any{"graph_endpoint": "https://" + ln.Addr().String()}))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	results, err := tr.Send(ctx, []*sdk.Message{message("slow-1@node"), message("slow-2@node")})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %v after its context ended", d)
	}
	if err != nil || len(results) != 2 {
		t.Fatalf("Send = %+v, %v; want two results", results, err)
	}
	for _, r := range results {
		checkDeliveryError(t, r.Err, sdk.Temporary, "", "")
	}
}
