package sdk_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func parse(t *testing.T, m *sdk.Message) *mail.Message {
	t.Helper()
	raw, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read what go-mail wrote: %v\n%s", err, raw)
	}
	return pm
}

func TestMessage_Headers(t *testing.T) {
	m := testMessage("ops@example.com")
	pm := parse(t, m)
	for _, h := range []string{"Date", "From", "To", "Cc", "Message-Id", "Mime-Version", "Subject", "X-Tocsin-Rule", "Reply-To"} {
		if pm.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if got := pm.Header.Get("Message-Id"); got != "<"+m.ID+">" {
		t.Errorf("Message-ID = %q, want <%s>", got, m.ID)
	}
	if pm.Header.Get("Bcc") != "" {
		t.Error("Bcc must not appear in the message header")
	}
	if d, err := pm.Header.Date(); err != nil || !d.Equal(m.Date) {
		t.Errorf("Date = %v (%v), want %v", d, err, m.Date)
	}
	from, err := pm.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "tocsin@example.com" || from[0].Name != "Tocsin" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if got, want := m.Recipients(), []string{"ops@example.com", "c@example.com", "b@example.com"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Recipients = %v, want %v", got, want)
	}
}

// TestMessage_Parts checks the MIME structure: text only is a single part;
// with HTML it is multipart/alternative with both; attachments wrap that in
// multipart/mixed with the bytes intact.
func TestMessage_Parts(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(m *sdk.Message)
		wantType  string
		wantParts []string
	}{
		{name: "text only", mutate: func(m *sdk.Message) { m.HTML = ""; m.Attachments = nil }, wantType: "text/plain"},
		{name: "html alternative", mutate: func(m *sdk.Message) { m.Attachments = nil }, wantType: "multipart/alternative", wantParts: []string{"text/plain", "text/html"}},
		{name: "html and attachment", mutate: func(*sdk.Message) {}, wantType: "multipart/mixed", wantParts: []string{"multipart/alternative", "text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ops@example.com")
			tt.mutate(m)
			pm := parse(t, m)
			mt, params, err := mime.ParseMediaType(pm.Header.Get("Content-Type"))
			if err != nil || mt != tt.wantType {
				t.Fatalf("Content-Type = %q (%v), want %s", pm.Header.Get("Content-Type"), err, tt.wantType)
			}
			if len(tt.wantParts) == 0 {
				return
			}
			var got []string
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
				got = append(got, pt)
				if p.FileName() == "log.txt" {
					body, _ := io.ReadAll(p)
					if !strings.Contains(string(decodeB64(t, body)), "line 1") {
						t.Errorf("attachment body = %q", body)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantParts, ",") {
				t.Errorf("parts = %v, want %v", got, tt.wantParts)
			}
		})
	}
}

func decodeB64(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(base64Reader(b))
	if err != nil {
		return b
	}
	return out
}

// TestMessage_NoHeaderInjection plants CR/LF in every value that becomes a
// header and checks no header was added.
func TestMessage_NoHeaderInjection(t *testing.T) {
	m := testMessage("ops@example.com")
	m.Subject = "disk full\r\nBcc: evil@example.net\r\nX-Injected: 1"
	m.From.Name = "Tocsin\nX-Injected: from"
	m.Headers = []sdk.Header{{Name: "X-Tocsin-Rule", Value: "r\r\n\r\nbody injection"}}
	m.Attachments = []sdk.Attachment{{Filename: "a.txt\r\nX-Injected: file", Data: []byte("x")}}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Bcc", "X-Injected"} {
		if v := pm.Header.Get(h); v != "" {
			t.Errorf("header %s was injected: %q\n%s", h, v, raw)
		}
	}
	if bytes.Contains(raw, []byte("\nX-Injected")) || bytes.Contains(raw, []byte("\nBcc:")) {
		t.Errorf("injected header line in message:\n%s", raw)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(pm.Header.Get("Subject"))
	if err != nil || !strings.Contains(subj, "disk full") || !strings.Contains(subj, "evil@example.net") {
		t.Errorf("subject lost its text: %q (%v)", subj, err)
	}
}

func TestMessage_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *sdk.Message)
		ok     bool
	}{
		{name: "good", mutate: func(*sdk.Message) {}, ok: true},
		{name: "no id", mutate: func(m *sdk.Message) { m.ID = "" }},
		{name: "id with brackets", mutate: func(m *sdk.Message) { m.ID = "<x@y>" }},
		{name: "no from", mutate: func(m *sdk.Message) { m.From = sdk.Address{} }},
		{name: "no recipient", mutate: func(m *sdk.Message) { m.To, m.Cc, m.Bcc = nil, nil, nil }},
		{name: "bcc only", mutate: func(m *sdk.Message) { m.To, m.Cc = nil, nil }, ok: true},
		{name: "cc only", mutate: func(m *sdk.Message) { m.To, m.Bcc = nil, nil }, ok: true},
		{name: "to only", mutate: func(m *sdk.Message) { m.Cc, m.Bcc = nil, nil }, ok: true},
		{name: "bad header name", mutate: func(m *sdk.Message) { m.Headers = []sdk.Header{{Name: "X Bad: y", Value: "v"}} }},
		{name: "reserved header", mutate: func(m *sdk.Message) { m.Headers = []sdk.Header{{Name: "Bcc", Value: "evil@x"}} }},
		{name: "reserved header in another case", mutate: func(m *sdk.Message) { m.Headers = []sdk.Header{{Name: "MESSAGE-ID", Value: "<other@x>"}} }},
		{name: "bad name after a good one", mutate: func(m *sdk.Message) {
			m.Headers = []sdk.Header{{Name: "X-Good", Value: "v"}, {Name: "X-Bad:", Value: "v"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ops@example.com")
			tt.mutate(m)
			err := m.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, berr := m.Build(""); (berr == nil) != tt.ok {
				t.Errorf("Build() = %v, want ok=%v", berr, tt.ok)
			}
		})
	}
}

// TestMessage_Validate_ID: the Message-ID goes into a header between angle
// brackets, so an ID with a bracket, white space or CR/LF is refused (it
// would break the header or add one) and nothing is written; any other ID
// is kept as it is.
func TestMessage_Validate_ID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{name: "plain", id: "1700000000.42.disk_full@host.example", ok: true},
		{name: "dashes and plus", id: "a-b+c=d@node-1", ok: true},
		{name: "space", id: "disk full@host"},
		{name: "tab", id: "disk\tfull@host"},
		{name: "leading space", id: " x@host"},
		{name: "trailing space", id: "x@host "},
		{name: "CR", id: "x@host\r"},
		{name: "LF", id: "x@host\n"},
		{name: "LF header injection", id: "x@host\nBcc: evil@example.net"},
		{name: "CRLF header injection", id: "x@host>\r\nBcc: <evil@example.net"},
		{name: "CRLF alone", id: "x@host\r\nX-Injected: 1"},
		{name: "opening bracket", id: "<x@host"},
		{name: "closing bracket", id: "x@host>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ops@example.com")
			m.ID = tt.id
			err := m.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if got := parse(t, m).Header.Get("Message-Id"); got != "<"+tt.id+">" {
					t.Errorf("Message-ID = %q, want <%s>", got, tt.id)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "message ID") {
				t.Fatalf("Validate() = %v, want an error about the message ID", err)
			}
			if _, err := m.Build(""); err == nil {
				t.Error("Build succeeded")
			}
			var buf bytes.Buffer
			if _, err := m.WriteTo(&buf); err == nil || buf.Len() != 0 {
				t.Errorf("WriteTo = %v and wrote %d bytes, want an error and nothing written", err, buf.Len())
			}
		})
	}
}

// TestMessage_Validate_headerName: an extra header's name is printable
// US-ASCII without colon or space (RFC 5322), so it cannot end the header
// early or start another.
func TestMessage_Validate_headerName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{name: "X-Tocsin-Rule", ok: true},
		{name: "X-All!#$%&'*+-.^_`|~09", ok: true},
		{name: "!", ok: true},
		{name: "~", ok: true},
		{name: ""},
		{name: "X Bad"},
		{name: "X-Bad:"},
		{name: ":"},
		{name: "X-Tab\t"},
		{name: "X-Bad\r\nBcc"},
		{name: "X-Bad\n"},
		{name: "X-\x00"},
		{name: "X-\x7f"},
		{name: "X-Bäd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ops@example.com")
			m.Headers = []sdk.Header{{Name: tt.name, Value: "v"}}
			err := m.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if got := parse(t, m).Header.Get(tt.name); got != "v" {
					t.Errorf("header %s = %q, want \"v\"", tt.name, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "not a valid field name") {
				t.Errorf("Validate() = %v, want an error about the field name", err)
			}
		})
	}
}
