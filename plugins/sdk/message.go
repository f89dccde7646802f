package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Address is a mail address with an optional display name.
type Address = mail.Address

// Attachment is a file attached to a message.
type Attachment struct {
	// Filename is the name the recipient sees.
	Filename string
	// ContentType is the MIME type; empty means application/octet-stream.
	ContentType string
	// Data is the file's content.
	Data []byte
}

// Header is an extra header field. Transports that cannot carry arbitrary
// headers (Graph) carry only the X- ones.
type Header struct {
	Name  string
	Value string
}

// Message is one mail, as the agent hands it to a transport. Values come
// from facts and templates, so they are untrusted: Build turns every CR and
// LF in a header value into a space, so no value can add a header.
type Message struct {
	// ID is the Message-ID without angle brackets. The agent assigns it
	// and keeps it across retries, so a duplicate can be recognised.
	ID string
	// Date is the message date; the zero time means now.
	Date time.Time

	From    Address
	To      []Address
	Cc      []Address
	Bcc     []Address
	ReplyTo []Address

	Subject string
	// Text is the plain-text body; it is always sent.
	Text string
	// HTML, when set, is sent as an alternative to Text
	// (multipart/alternative).
	HTML string

	Attachments []Attachment
	Headers     []Header

	// Alert, when set, says which rule's alert the message is about; see
	// [Alert]. A mail transport ignores it.
	Alert *Alert
}

// Recipients returns the envelope recipients: To, Cc and Bcc.
func (m *Message) Recipients() []string {
	out := make([]string, 0, len(m.To)+len(m.Cc)+len(m.Bcc))
	for _, l := range [][]Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			out = append(out, a.Address)
		}
	}
	return out
}

// reservedHeaders are set from the message's fields and cannot be set
// through Headers.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true, "sender": true,
}

// Validate reports a message that cannot be sent: no sender, no recipient,
// no ID, or an extra header whose name is not a valid field name or is one
// the message's fields set.
func (m *Message) Validate() error {
	if m.ID == "" {
		return errors.New("message has no ID")
	}
	if strings.ContainsAny(m.ID, "<>\r\n \t") {
		return fmt.Errorf("message ID %q must not contain angle brackets or white space", m.ID)
	}
	if m.From.Address == "" {
		return errors.New("message has no From address")
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return errors.New("message has no recipient")
	}
	for _, h := range m.Headers {
		if !validFieldName(h.Name) {
			return fmt.Errorf("header name %q is not a valid field name", h.Name)
		}
		if reservedHeaders[strings.ToLower(h.Name)] {
			return fmt.Errorf("header %q is set from the message's fields, not from Headers", h.Name)
		}
	}
	return nil
}

// validFieldName reports whether s is an RFC 5322 field name: printable
// US-ASCII except colon and space.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// oneLine turns every CR and LF in s into a space, so a value cannot start a
// new header line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// cleanAddress returns a copy of a with a one-line display name.
func cleanAddress(a Address) *mail.Address {
	return &mail.Address{Name: oneLine(a.Name), Address: a.Address}
}

func cleanAddresses(l []Address) []*mail.Address {
	out := make([]*mail.Address, len(l))
	for i, a := range l {
		out[i] = cleanAddress(a)
	}
	return out
}

// Build returns the message as a go-mail message, ready for a go-mail
// client or for WriteTo. userAgent, when not empty, becomes the
// User-Agent/X-Mailer header.
func (m *Message) Build(userAgent string) (*gomail.Msg, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	opts := []gomail.MsgOption{gomail.WithNoDefaultUserAgent()}
	msg := gomail.NewMsg(opts...)
	msg.FromMailAddress(cleanAddress(m.From))
	if len(m.To) > 0 {
		msg.ToMailAddress(cleanAddresses(m.To)...)
	}
	if len(m.Cc) > 0 {
		msg.CcMailAddress(cleanAddresses(m.Cc)...)
	}
	if len(m.Bcc) > 0 {
		msg.BccMailAddress(cleanAddresses(m.Bcc)...)
	}
	if len(m.ReplyTo) > 0 {
		msg.ReplyToMailAddress(cleanAddresses(m.ReplyTo)...)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageIDWithValue(m.ID)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	if userAgent != "" {
		msg.SetUserAgent(oneLine(userAgent))
	}
	for _, h := range m.Headers {
		msg.SetGenHeader(gomail.Header(h.Name), oneLine(h.Value))
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		if err := msg.AttachReader(oneLine(a.Filename), bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(oneLine(ct)))); err != nil {
			return nil, fmt.Errorf("attach %q: %w", a.Filename, err)
		}
	}
	return msg, nil
}

// WriteTo writes the message as RFC 5322 bytes, for transports that take
// a whole message (Gmail, Graph's MIME form, a file).
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	msg, err := m.Build("")
	if err != nil {
		return 0, err
	}
	n, err := msg.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write message %s: %w", m.ID, err)
	}
	return n, nil
}

// Bytes returns the message as RFC 5322 bytes.
func (m *Message) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
