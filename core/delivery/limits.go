package delivery

import (
	"errors"
	"fmt"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// What the dispatcher keeps of a failed attempt, whatever a plugin sends
// back: in the outbox (outbox.Attempt, and so tocsin outbox show and GET
// /v1/outbox) and in what it gives its Observer (the log lines, the
// outbox fact). A longer text is cut by sdk.Truncate: its first bytes, on
// a character boundary, and a marker that says it was cut and how long it
// was, " … [cut by tocsin: N bytes in all]", within the size.
const (
	// MaxReplyBytes bounds the provider's raw reply.
	MaxReplyBytes = 4 << 10
	// MaxErrorBytes bounds the error's text (the cause after the kind and
	// code).
	MaxErrorBytes = 4 << 10
	// MaxRemedyBytes bounds the remedy.
	MaxRemedyBytes = 1 << 10
	// MaxCodeBytes bounds the provider's code.
	MaxCodeBytes = 128
	// MaxReceiptBytes bounds the provider's receipt of a sent message.
	MaxReceiptBytes = 1 << 10
)

// cutError is an error whose text was cut; it still unwraps to the
// original, for errors.Is.
type cutError struct {
	text string
	err  error
}

func (e *cutError) Error() string { return e.text }
func (e *cutError) Unwrap() error { return e.err }

// capped returns a copy of de with its code, reply, remedy and cause cut
// to the sizes above, so that no part of the agent stores or logs more of
// it. A cut cause still unwraps to de.Err.
func capped(de *sdk.DeliveryError) *sdk.DeliveryError {
	if de == nil {
		return nil
	}
	c := *de
	c.Code = sdk.Truncate(de.Code, MaxCodeBytes)
	c.Reply = sdk.Truncate(de.Reply, MaxReplyBytes)
	c.Remedy = sdk.Truncate(de.Remedy, MaxRemedyBytes)
	if de.Err != nil {
		cause := de.Err.Error()
		if text := sdk.Truncate(cause, MaxErrorBytes); text != cause {
			c.Err = &cutError{text: text, err: de.Err}
		}
	}
	return &c
}

// ErrTooLarge is wrapped by the error of a message larger than its
// transport takes in one Send.
var ErrTooLarge = errors.New("message too large for the transport")

// entrySize is what e's message will weigh, before the dispatcher builds
// it with its transport's sender (notify.Message adds a sender and a date:
// a few bytes).
func entrySize(e *outbox.Entry) int {
	return sdk.MessageSize(&sdk.Message{
		ID: e.ID, To: e.Mail.To, Subject: e.Mail.Subject, Text: e.Mail.Text, HTML: e.Mail.HTML,
		Attachments: e.Mail.Attachments, Headers: e.Mail.Headers,
	}) + 256
}

// tooLargeErr is the failure of a message over its transport's budget: it
// is ErrTooLarge and ErrBuild (the message's fault, not the transport's).
type tooLargeErr struct {
	transport   string
	size, limit int
}

func (e *tooLargeErr) Error() string {
	return fmt.Sprintf("message of %d bytes is larger than transport %s takes in one send (%d bytes)", e.size, e.transport, e.limit)
}

func (e *tooLargeErr) Unwrap() []error { return []error{ErrTooLarge, ErrBuild} }

// tooLarge is the permanent failure of a message of size bytes on
// transport t, whose budget is limit bytes.
func tooLarge(t string, size, limit int) *sdk.DeliveryError {
	return sdk.PermanentError(&tooLargeErr{transport: t, size: size, limit: limit}, "",
		fmt.Sprintf("The message is %s, more than the %s transport %s takes in one send: make the rule attach less (a shorter tail), or put a transport that takes larger messages after it in the contact's via list.", mib(size), mib(limit), t))
}

// mib formats n bytes as "2.5 MiB".
func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
