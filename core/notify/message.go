package notify

import (
	"fmt"
	"net/mail"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Sender parses the from setting of the transport named transport: the
// address its messages come from. The error names the transport.
func Sender(transport, from string) (sdk.Address, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return sdk.Address{}, fmt.Errorf("transport %s: from: %w", transport, err)
	}
	return *a, nil
}

// Message returns the message of the stored notification e as a transport
// sends it from from: e's Message-ID, its date (when it was enqueued),
// its recipients and content. The message shares e's slices; a transport
// must not change them.
func Message(e *outbox.Entry, from sdk.Address) *sdk.Message {
	return &sdk.Message{
		ID:          e.ID,
		Date:        e.EnqueuedAt,
		From:        from,
		To:          e.Mail.To,
		Subject:     e.Mail.Subject,
		Text:        e.Mail.Text,
		HTML:        e.Mail.HTML,
		Headers:     e.Mail.Headers,
		Attachments: e.Mail.Attachments,
		Alert:       e.Mail.Alert,
	}
}

// ForContact returns the outbox entry that tells the contact named
// contact what m says: under a new Message-ID of node, to the contact's
// addresses email, along its via list, enqueued at now. The caller sets
// its Rule and Event. The error names an address net/mail refuses.
func ForContact(node, contact string, email, via []string, m outbox.Mail, now time.Time) (*outbox.Entry, error) {
	to := make([]sdk.Address, 0, len(email))
	for _, s := range email {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("contact %s: address %q: %w", contact, s, err)
		}
		to = append(to, *a)
	}
	m.To = to
	return &outbox.Entry{
		ID:         NewMessageID(node, now),
		Contact:    contact,
		Via:        append([]string(nil), via...),
		Mail:       m,
		EnqueuedAt: now,
	}, nil
}
