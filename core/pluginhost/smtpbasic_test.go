package pluginhost_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// These tests run the real smtp-basic binary through the host against an
// in-process SMTP server with real TLS.

func newCA(t *testing.T) (*testserver.CA, string) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, path
}

func TestSMTPBasic_SecurityAndAuth(t *testing.T) {
	ca, caFile := newCA(t)
	tlsCfg, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"alice": "correct horse battery staple"}
	tests := []struct {
		name     string
		server   testserver.Options
		settings map[string]any
		wantTLS  bool
		wantUser string
		wantMech string
	}{
		{
			name:     "security none, no auth",
			server:   testserver.Options{},
			settings: map[string]any{"security": "none"},
		},
		{
			name:     "starttls, no auth",
			server:   testserver.Options{TLS: tlsCfg},
			settings: map[string]any{"security": "starttls", "ca_file": caFile},
			wantTLS:  true,
		},
		{
			name:     "implicit tls, no auth",
			server:   testserver.Options{TLS: tlsCfg, Implicit: true},
			settings: map[string]any{"security": "tls", "ca_file": caFile},
			wantTLS:  true,
		},
		{
			name:     "starttls, auth plain",
			server:   testserver.Options{TLS: tlsCfg, Users: users},
			settings: map[string]any{"security": "starttls", "ca_file": caFile, "auth": "plain", "username": "alice", "password": users["alice"]},
			wantTLS:  true, wantUser: "alice", wantMech: "PLAIN",
		},
		{
			name:     "implicit tls, auth login",
			server:   testserver.Options{TLS: tlsCfg, Implicit: true, Users: users},
			settings: map[string]any{"security": "tls", "ca_file": caFile, "auth": "login", "username": "alice", "password": users["alice"]},
			wantTLS:  true, wantUser: "alice", wantMech: "LOGIN",
		},
		{
			name:     "starttls, auth cram-md5",
			server:   testserver.Options{TLS: tlsCfg, Users: users},
			settings: map[string]any{"security": "starttls", "ca_file": caFile, "auth": "cram-md5", "username": "alice", "password": users["alice"]},
			wantTLS:  true, wantUser: "alice", wantMech: "CRAM-MD5",
		},
		{
			name:     "plaintext auth allowed explicitly",
			server:   testserver.Options{Users: users, AllowInsecureAuth: true},
			settings: map[string]any{"security": "none", "auth": "plain", "username": "alice", "password": users["alice"], "allow_insecure_auth": true},
			wantUser: "alice", wantMech: "PLAIN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.StartT(t, tt.server)
			h, _ := newHost(t)
			tt.settings["host"] = srv.Host()
			tt.settings["port"] = srv.Port()
			in, diags := configure(t, h, tt.settings)
			if diags.HasErrors() {
				t.Fatalf("configure: %v", diags.Err())
			}
			if err := in.Check(ctx(t)); err != nil {
				t.Fatalf("check: %v", err)
			}
			res, err := in.Send(ctx(t), []*sdk.Message{message("m1@test", "ops@example.com")})
			if err != nil || res[0].Err != nil {
				t.Fatalf("send: %v / %+v", err, res)
			}
			if !strings.HasPrefix(res[0].Receipt, "250") {
				t.Errorf("receipt = %q, want the server's 250 reply", res[0].Receipt)
			}
			got, err := srv.Wait(ctx(t), 1)
			if err != nil {
				t.Fatal(err)
			}
			r := got[0]
			if r.TLS != tt.wantTLS || r.User != tt.wantUser || r.Mechanism != tt.wantMech {
				t.Errorf("received over tls=%v user=%q mech=%q, want tls=%v user=%q mech=%q", r.TLS, r.User, r.Mechanism, tt.wantTLS, tt.wantUser, tt.wantMech)
			}
			if r.From != "tocsin@example.com" || len(r.To) != 1 || r.To[0] != "ops@example.com" {
				t.Errorf("envelope from=%q to=%v", r.From, r.To)
			}
		})
	}
}

func TestSMTPBasic_Failures(t *testing.T) {
	ca, caFile := newCA(t)
	tlsCfg, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"alice": "right"}
	tests := []struct {
		name       string
		server     testserver.Options
		settings   map[string]any
		wantKind   sdk.Kind
		wantCode   string
		wantRemedy string
	}{
		{
			name:       "self-signed certificate without ca_file",
			server:     testserver.Options{TLS: tlsCfg},
			settings:   map[string]any{"security": "starttls"},
			wantKind:   sdk.Permanent,
			wantRemedy: "ca_file",
		},
		{
			name:       "wrong password",
			server:     testserver.Options{TLS: tlsCfg, Users: users},
			settings:   map[string]any{"security": "starttls", "ca_file": caFile, "username": "alice", "password": "wrong"},
			wantKind:   sdk.Permanent,
			wantCode:   "535",
			wantRemedy: "username and password",
		},
		{
			name:     "421 at MAIL is temporary",
			server:   testserver.Options{Fault: replyAt(testserver.StageMail, 421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down")},
			settings: map[string]any{"security": "none"},
			wantKind: sdk.Temporary,
			wantCode: "421",
		},
		{
			name:     "451 at DATA is temporary",
			server:   testserver.Options{Fault: replyAt(testserver.StageData, 451, smtp.EnhancedCode{4, 3, 0}, "Local error, try again")},
			settings: map[string]any{"security": "none"},
			wantKind: sdk.Temporary,
			wantCode: "451 4.3.0",
		},
		{
			name:       "550 at RCPT is permanent",
			server:     testserver.Options{Fault: replyAt(testserver.StageRcpt, 550, smtp.EnhancedCode{5, 1, 1}, "No such user")},
			settings:   map[string]any{"security": "none"},
			wantKind:   sdk.Permanent,
			wantCode:   "550 5.1.1",
			wantRemedy: "address",
		},
		{
			name:       "starttls against a server without it",
			server:     testserver.Options{},
			settings:   map[string]any{"security": "starttls"},
			wantKind:   sdk.Permanent,
			wantRemedy: "STARTTLS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.StartT(t, tt.server)
			h, _ := newHost(t)
			tt.settings["host"] = srv.Host()
			tt.settings["port"] = srv.Port()
			in, diags := configure(t, h, tt.settings)
			if diags.HasErrors() {
				t.Fatalf("configure: %v", diags.Err())
			}
			res, err := in.Send(ctx(t), []*sdk.Message{message("m1@test", "ops@example.com")})
			if err == nil {
				err = res[0].Err
			}
			if err == nil {
				t.Fatal("send succeeded, want an error")
			}
			de := sdk.AsDeliveryError(err)
			if de.Kind != tt.wantKind {
				t.Errorf("kind = %v, want %v (%v)", de.Kind, tt.wantKind, err)
			}
			if !strings.HasPrefix(de.Code, tt.wantCode) {
				t.Errorf("code = %q, want prefix %q (%v)", de.Code, tt.wantCode, err)
			}
			if tt.wantCode != "" && !strings.Contains(de.Reply, tt.wantCode[:3]) {
				t.Errorf("raw reply %q not kept", de.Reply)
			}
			if !strings.Contains(de.Remedy, tt.wantRemedy) {
				t.Errorf("remedy = %q, want it to mention %q", de.Remedy, tt.wantRemedy)
			}
			if len(srv.Messages()) != 0 {
				t.Errorf("server received %d messages", len(srv.Messages()))
			}
		})
	}
}

func replyAt(stage testserver.Stage, code int, enh smtp.EnhancedCode, text string) testserver.Fault {
	return func(s testserver.Stage, _, _ int) *smtp.SMTPError {
		if s != stage {
			return nil
		}
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
	}
}

func TestSMTPBasic_RefusesPlaintextPassword(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"alice": "pw"}, AllowInsecureAuth: true})
	h, _ := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "username": "alice", "password": "pw"})
	if !diags.HasErrors() {
		t.Fatal("configure accepted a password over plain SMTP without allow_insecure_auth")
	}
	if diags[0].Attribute != "security" || !strings.Contains(diags[0].Detail, "allow_insecure_auth") {
		t.Errorf("diagnostic = %+v", diags[0])
	}
	res, err := in.Send(ctx(t), []*sdk.Message{message("m1@test", "ops@example.com")})
	if err == nil && res[0].Err == nil {
		t.Fatal("an unconfigured transport sent mail")
	}
	if srv.Connections() != 0 {
		t.Errorf("the plugin connected %d times; it must not connect at all", srv.Connections())
	}
}

func TestSMTPBasic_BatchStaysWithinThePool(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, _ := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	msgs := make([]*sdk.Message, 100)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("m%03d@test", i), "ops@example.com")
	}
	res, err := in.Send(ctx(t), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.MessageID != msgs[i].ID {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	if _, err := srv.Wait(ctx(t), 100); err != nil {
		t.Fatal(err)
	}
	// A batch goes over the transport's pool: several connections at
	// once, never more than max_connections (4 by default), never one
	// per message.
	if n := srv.Connections(); n < 1 || n > 4 {
		t.Errorf("100 messages used %d connections, want 1 to 4 (max_connections)", n)
	}
}

func TestSMTPBasic_BatchPartialFailure(t *testing.T) {
	// The 3rd message is refused; the others still arrive, over one connection.
	srv := testserver.StartT(t, testserver.Options{Fault: func(s testserver.Stage, _, msg int) *smtp.SMTPError {
		if s == testserver.StageData && msg == 3 {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Content rejected"}
		}
		return nil
	}})
	h, _ := newHost(t)
	in, _ := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	msgs := []*sdk.Message{message("a@t", "x@example.com"), message("b@t", "x@example.com"), message("c@t", "x@example.com"), message("d@t", "x@example.com")}
	res, err := in.Send(ctx(t), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if (r.Err != nil) != (i == 2) {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if de := sdk.AsDeliveryError(res[2].Err); de.Kind != sdk.Permanent || !strings.HasPrefix(de.Code, "554") {
		t.Errorf("refused message error = %+v", de)
	}
	if got := len(srv.Messages()); got != 3 {
		t.Errorf("server got %d messages, want 3", got)
	}
}

// TestSMTPBasic_ReceivedMessage checks what arrives: it parses, carries the
// headers a mail needs, HTML makes it multipart/alternative, and CR/LF in
// untrusted values adds no header.
func TestSMTPBasic_ReceivedMessage(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, _ := newHost(t)
	in, _ := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	m := message("html-1@tocsin", "ops@example.com")
	m.HTML = "<p>disk <b>full</b></p>"
	m.Subject = "disk full\r\nBcc: evil@example.net"
	m.Headers = []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk\nX-Evil: 1"}}
	if _, err := in.Send(ctx(t), []*sdk.Message{m}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.Wait(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	for _, hname := range []string{"Date", "From", "To", "Message-Id", "Mime-Version"} {
		if pm.Header.Get(hname) == "" {
			t.Errorf("missing %s", hname)
		}
	}
	if pm.Header.Get("Message-Id") != "<html-1@tocsin>" {
		t.Errorf("Message-ID = %q", pm.Header.Get("Message-Id"))
	}
	for _, hname := range []string{"Bcc", "X-Evil"} {
		if pm.Header.Get(hname) != "" {
			t.Errorf("header %s injected", hname)
		}
	}
	if len(got[0].To) != 1 {
		t.Errorf("envelope recipients = %v: a header injection added one", got[0].To)
	}
	mt, params, _ := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	if mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q", pm.Header.Get("Content-Type"))
	}
	var parts []string
	mr := multipart.NewReader(pm.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, _ := io.ReadAll(p)
		parts = append(parts, pt)
		if pt == "text/html" && !strings.Contains(string(body), "full") {
			t.Errorf("html part = %q", body)
		}
	}
	if strings.Join(parts, ",") != "text/plain,text/html" {
		t.Errorf("parts = %v", parts)
	}
}

func TestSMTPBasic_ContextCancelAbortsSend(t *testing.T) {
	// A server that stalls at DATA; the send must end when its context does.
	release := make(chan struct{})
	srv := testserver.StartT(t, testserver.Options{Fault: func(s testserver.Stage, _, _ int) *smtp.SMTPError {
		if s == testserver.StageData {
			<-release
		}
		return nil
	}})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	h, _ := newHost(t)
	in, _ := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "timeout": "1m"})
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := in.Send(c, []*sdk.Message{message("slow@t", "x@example.com")})
	if err == nil && res[0].Err == nil {
		t.Fatal("send through a stalled server succeeded")
	}
	if err == nil {
		err = res[0].Err
	}
	if !sdk.IsTemporary(err) {
		t.Errorf("a cancelled send should be temporary, got %v", err)
	}
}
