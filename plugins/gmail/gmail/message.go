package gmail

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// rfc822 returns m as the RFC 822 bytes the Gmail API uploads, built by
// go-mail through the SDK, with userAgent as its User-Agent.
//
// go-mail never writes a Bcc header, because SMTP carries those recipients
// in the envelope. The Gmail API has no envelope: it takes the recipients
// from the To, Cc and Bcc headers and removes Bcc before delivering. So a
// message with Bcc recipients gets a Bcc header here, each address
// formatted by net/mail and folded onto its own line.
func rfc822(m *sdk.Message, userAgent string) ([]byte, error) {
	msg, err := m.Build(userAgent)
	if err != nil {
		return nil, err
	}
	if len(m.Bcc) > 0 {
		list := make([]string, len(m.Bcc))
		for i, a := range m.Bcc {
			list[i] = (&mail.Address{Name: oneLine(a.Name), Address: oneLine(a.Address)}).String()
		}
		msg.SetGenHeaderPreformatted("Bcc", strings.Join(list, ",\r\n "))
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write message: %w", err)
	}
	return buf.Bytes(), nil
}

// oneLine turns CR and LF into spaces, so a value cannot start a header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
