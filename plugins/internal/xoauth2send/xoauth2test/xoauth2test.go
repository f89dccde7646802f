// Package xoauth2test is test support shared by the XOAUTH2 transports'
// tests: a message with every part and the check that an SMTP stand-in
// received it whole from the right login. A real plugin process is
// started with sdktest.StartPlugin.
package xoauth2test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// NewCA returns a throw-away CA and the path of its certificate file, for
// a ca_file setting.
func NewCA(t testing.TB) (*testserver.CA, string) {
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

// StartSMTP starts a STARTTLS (or, with implicit, TLS) SMTP server whose
// only mechanism is XOAUTH2 in style, checking tokens with validate.
func StartSMTP(t testing.TB, ca *testserver.CA, implicit bool, style testserver.Style, validate func(user, token string) error) *testserver.Server {
	t.Helper()
	tc, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	return testserver.StartT(t, testserver.Options{
		TLS:        tc,
		Implicit:   implicit,
		Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{testserver.MechXOAUTH2: testserver.XOAUTH2(validate, style)},
	})
}

// Attachment is the attachment of [RichMessage].
var Attachment = sdk.Attachment{
	Filename:    "disk-usage.csv",
	ContentType: "text/csv",
	Data:        []byte("mount,used\n/,97%\n/var,99%\n\x00\x01binary tail\xff"),
}

// RichMessage returns a message from from with a text and an HTML part,
// an attachment, and To, Cc and Bcc recipients.
func RichMessage(id, from string) *sdk.Message {
	return &sdk.Message{
		ID:          id,
		Date:        time.Now().Truncate(time.Second),
		From:        sdk.Address{Name: "Tocsin", Address: from},
		To:          []sdk.Address{{Name: "Ops", Address: "ops@example.net"}},
		Cc:          []sdk.Address{{Address: "lead@example.net"}},
		Bcc:         []sdk.Address{{Address: "audit@example.net"}},
		Subject:     "Disk almost full on db1 (" + id + ")",
		Text:        "The disk /var on db1 is 99% full.\nFree some space.\n",
		HTML:        "<p>The disk <b>/var</b> on db1 is 99% full.</p>",
		Attachments: []sdk.Attachment{Attachment},
	}
}

// CheckReceived checks that r is want, delivered over TLS by a session
// that logged in with XOAUTH2 as mailbox: envelope, subject, Message-ID,
// the text and HTML parts and the attachment's bytes.
func CheckReceived(t testing.TB, r testserver.Received, want *sdk.Message, mailbox string) {
	t.Helper()
	if !r.TLS || r.User != mailbox || r.Mechanism != testserver.MechXOAUTH2 {
		t.Errorf("session: TLS %v, user %q, mechanism %q; want TLS, %q, XOAUTH2", r.TLS, r.User, r.Mechanism, mailbox)
	}
	if r.From != want.From.Address {
		t.Errorf("MAIL FROM %q, want %q", r.From, want.From.Address)
	}
	var rcpts []string
	for _, list := range [][]sdk.Address{want.To, want.Cc, want.Bcc} {
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
		}
	}
	gotRcpts := slices.Clone(r.To)
	slices.Sort(gotRcpts)
	slices.Sort(rcpts)
	if !slices.Equal(gotRcpts, rcpts) {
		t.Errorf("RCPT TO %q, want %q", gotRcpts, rcpts)
	}
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("parse received message: %v\n%s", err, r.Data)
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || subj != want.Subject {
		t.Errorf("Subject %q (%v), want %q", subj, err, want.Subject)
	}
	if id := m.Header.Get("Message-Id"); id != "<"+want.ID+">" {
		t.Errorf("Message-ID %q, want <%s>", id, want.ID)
	}
	if b := m.Header.Get("Bcc"); b != "" {
		t.Errorf("Bcc header %q reached the server", b)
	}
	parts, err := Parts(m.Header, m.Body)
	if err != nil {
		t.Fatalf("parse MIME: %v", err)
	}
	var text, html, attached []string
	for _, p := range parts {
		switch {
		case p.Filename != "":
			if p.Filename != Attachment.Filename || !bytes.Equal(p.Body, Attachment.Data) {
				t.Errorf("attachment %q (%s) = %q, want %q = %q", p.Filename, p.MediaType, p.Body, Attachment.Filename, Attachment.Data)
			}
			attached = append(attached, p.Filename)
		case p.MediaType == "text/plain":
			text = append(text, normalize(p.Body))
		case p.MediaType == "text/html":
			html = append(html, normalize(p.Body))
		}
	}
	if !slices.Equal(text, []string{normalize([]byte(want.Text))}) {
		t.Errorf("text parts %q, want %q", text, want.Text)
	}
	if !slices.Equal(html, []string{normalize([]byte(want.HTML))}) {
		t.Errorf("HTML parts %q, want %q", html, want.HTML)
	}
	if len(attached) != len(want.Attachments) {
		t.Errorf("attachments %q, want %d", attached, len(want.Attachments))
	}
}

func normalize(b []byte) string {
	return strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}

// Part is a leaf of a MIME message, decoded.
type Part struct {
	MediaType string
	Filename  string
	Body      []byte
}

// header is what Parts needs of a MIME header (mail.Header,
// textproto.MIMEHeader).
type header interface{ Get(string) string }

// Parts returns the leaves of the MIME entity with header h and body,
// with their transfer encoding undone.
func Parts(h header, body io.Reader) ([]Part, error) {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType, params = "text/plain", nil
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var out []Part
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", mediaType, err)
			}
			sub, err := Parts(p.Header, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mediaType, err)
	}
	data := raw
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		data, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw)))
	case "quoted-printable":
		data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", mediaType, err)
	}
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	return []Part{{MediaType: mediaType, Filename: name, Body: data}}, nil
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
