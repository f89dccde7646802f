package sdk_test

import (
	"bytes"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// addrs returns n addresses named prefix1@example.com, prefix2@…
func addrs(prefix string, n int) []sdk.Address {
	var out []sdk.Address
	for i := 1; i <= n; i++ {
		out = append(out, sdk.Address{Address: prefix + string(rune('0'+i)) + "@example.com"})
	}
	return out
}

// withRecipients is testMessage with n To, Cc, Bcc and Reply-To addresses.
func withRecipients(to, cc, bcc, replyTo int) *sdk.Message {
	m := testMessage("unused@example.com")
	m.To, m.Cc, m.Bcc, m.ReplyTo = addrs("to", to), addrs("cc", cc), addrs("bcc", bcc), addrs("reply", replyTo)
	return m
}

// TestMessage_Validate_recipients: a message needs at least one recipient
// in To, Cc or Bcc, whichever it is; any mix of them is enough, and a
// Reply-To address is not a recipient.
func TestMessage_Validate_recipients(t *testing.T) {
	tests := []struct {
		name        string
		to, cc, bcc int
		ok          bool
	}{
		{name: "none, reply-to only"},
		{name: "to only", to: 1, ok: true},
		{name: "cc only", cc: 1, ok: true},
		{name: "bcc only", bcc: 1, ok: true},
		{name: "to and cc", to: 1, cc: 1, ok: true},
		{name: "to and bcc", to: 1, bcc: 1, ok: true},
		{name: "cc and bcc", cc: 1, bcc: 1, ok: true},
		{name: "one to, two cc, one bcc", to: 1, cc: 2, bcc: 1, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := withRecipients(tt.to, tt.cc, tt.bcc, 1)
			err := m.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "no recipient") {
				t.Fatalf("Validate() = %v, want an error about no recipient", err)
			}
		})
	}
}

// TestMessage_Recipients: the envelope recipients are To, then Cc, then
// Bcc, for any mix of the three, and the go-mail message Build returns
// (which an SMTP client sends to) has the same envelope.
func TestMessage_Recipients(t *testing.T) {
	tests := []struct {
		name        string
		to, cc, bcc int
		want        []string
	}{
		{name: "to only", to: 2, want: []string{"to1@example.com", "to2@example.com"}},
		{name: "cc only", cc: 1, want: []string{"cc1@example.com"}},
		{name: "bcc only", bcc: 1, want: []string{"bcc1@example.com"}},
		{name: "cc and bcc", cc: 1, bcc: 2, want: []string{"cc1@example.com", "bcc1@example.com", "bcc2@example.com"}},
		{name: "all three", to: 1, cc: 1, bcc: 1, want: []string{"to1@example.com", "cc1@example.com", "bcc1@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := withRecipients(tt.to, tt.cc, tt.bcc, 0)
			if got := m.Recipients(); !slices.Equal(got, tt.want) {
				t.Errorf("Recipients() = %v, want %v", got, tt.want)
			}
			msg, err := m.Build("")
			if err != nil {
				t.Fatal(err)
			}
			envelope, err := msg.GetRecipients()
			var got []string
			for _, a := range envelope {
				got = append(got, strings.Trim(a, "<>"))
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Build().GetRecipients() = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

// TestMessage_Build_addressHeaders: To, Cc and Reply-To headers are
// written exactly when the message has such addresses, with those
// addresses; Bcc addresses are never written as a header.
func TestMessage_Build_addressHeaders(t *testing.T) {
	tests := []struct {
		name                 string
		to, cc, bcc, replyTo int
	}{
		{name: "to only", to: 1},
		{name: "cc only", cc: 2},
		{name: "bcc only", bcc: 1},
		{name: "bcc and reply-to", bcc: 1, replyTo: 1},
		{name: "all", to: 2, cc: 1, bcc: 2, replyTo: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := withRecipients(tt.to, tt.cc, tt.bcc, tt.replyTo)
			raw, err := m.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			pm, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []struct {
				name string
				want []sdk.Address
			}{{"To", m.To}, {"Cc", m.Cc}, {"Reply-To", m.ReplyTo}, {"Bcc", nil}} {
				_, present := pm.Header[h.name]
				if present != (len(h.want) > 0) {
					t.Errorf("header %s present = %v, want %v\n%s", h.name, present, len(h.want) > 0, raw)
					continue
				}
				if !present {
					continue
				}
				got, err := pm.Header.AddressList(h.name)
				if err != nil {
					t.Errorf("header %s: %v", h.name, err)
					continue
				}
				var gotA, wantA []string
				for _, a := range got {
					gotA = append(gotA, a.Address)
				}
				for _, a := range h.want {
					wantA = append(wantA, a.Address)
				}
				if !slices.Equal(gotA, wantA) {
					t.Errorf("header %s = %v, want %v", h.name, gotA, wantA)
				}
			}
			for _, a := range m.Bcc {
				if bytes.Contains(raw, []byte(a.Address)) {
					t.Errorf("Bcc address %s is in the written message:\n%s", a.Address, raw)
				}
			}
		})
	}
}

// TestMessage_Build_userAgent: a user agent given to Build is written as
// both User-Agent and X-Mailer, on one line; without one (WriteTo, Bytes)
// neither header is written, not even go-mail's default or an empty one.
func TestMessage_Build_userAgent(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{name: "none", ua: "", want: ""},
		{name: "plugin", ua: "tocsin-smtp/1.4.0", want: "tocsin-smtp/1.4.0"},
		{name: "CR/LF flattened", ua: "tocsin\r\nBcc: evil@example.net", want: "tocsin  Bcc: evil@example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := testMessage("ops@example.com").Build(tt.ua)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := msg.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			pm, err := mail.ReadMessage(&buf)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"User-Agent", "X-Mailer"} {
				v, present := pm.Header[h]
				if tt.want == "" {
					if present {
						t.Errorf("header %s = %q, want none", h, v)
					}
					continue
				}
				if len(v) != 1 || v[0] != tt.want {
					t.Errorf("header %s = %q, want [%q]", h, v, tt.want)
				}
			}
			if pm.Header.Get("Bcc") != "" {
				t.Error("the user agent added a Bcc header")
			}
		})
	}
}

// TestMessage_oneLine: in every header value that comes from the message
// (subject, display name, extra header, attachment name), each CR and each
// LF, alone or as a pair, becomes one space; nothing else changes.
func TestMessage_oneLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "disk full on db1", want: "disk full on db1"},
		{name: "CR alone", in: "disk\rfull", want: "disk full"},
		{name: "LF alone", in: "disk\nfull", want: "disk full"},
		{name: "CRLF", in: "disk\r\nfull", want: "disk  full"},
		{name: "LF CR", in: "disk\n\rfull", want: "disk  full"},
	}
	dec := new(mime.WordDecoder)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ops@example.com")
			m.Subject = tt.in
			m.From.Name = tt.in
			m.Headers = []sdk.Header{{Name: "X-Tocsin-Rule", Value: tt.in}}
			m.Attachments = []sdk.Attachment{{Filename: tt.in, Data: []byte("x")}}
			pm := parse(t, m)
			if got, err := dec.DecodeHeader(pm.Header.Get("Subject")); err != nil || got != tt.want {
				t.Errorf("Subject = %q (%v), want %q", got, err, tt.want)
			}
			if from, err := pm.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != tt.want {
				t.Errorf("From = %v (%v), want name %q", from, err, tt.want)
			}
			if got, err := dec.DecodeHeader(pm.Header.Get("X-Tocsin-Rule")); err != nil || got != tt.want {
				t.Errorf("X-Tocsin-Rule = %q (%v), want %q", got, err, tt.want)
			}
			raw, err := m.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(raw, []byte(`filename="`+tt.want+`"`)) {
				t.Errorf("attachment filename %q not in message:\n%s", tt.want, raw)
			}
		})
	}
}
