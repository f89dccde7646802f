package dispatch

import (
	"fmt"
	"unicode/utf8"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// What the dispatcher keeps of a failed attempt, whatever a plugin sends
// back: in the outbox (outbox.Attempt, and so tocsin outbox show and GET
// /v1/outbox) and in what it gives its Observer (the log lines, the
// outbox fact). A longer text is cut to its first bytes, on a character
// boundary, and ends with a marker that says it was cut and how long it
// was: " …[cut by tocsin: N bytes, the first M kept]".
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

// cutMarker ends a text cut from total bytes to its first kept.
func cutMarker(total, kept int) string {
	return fmt.Sprintf(" …[cut by tocsin: %d bytes, the first %d kept]", total, kept)
}

// truncate returns s when it has at most max bytes, else its first max
// bytes or fewer (never half a character) and the cut marker.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + cutMarker(len(s), n)
}

// cutError is an error whose text was cut; it still unwraps to the
// original, for errors.Is.
type cutError struct {
	text string
	err  error
}

func (e *cutError) Error() string { return e.text }
func (e *cutError) Unwrap() error { return e.err }

// capped returns de with its code, reply, remedy and cause cut to the
// sizes above (de itself when they fit), so that no part of the agent
// stores or logs more of it.
func capped(de *sdk.DeliveryError) *sdk.DeliveryError {
	if de == nil {
		return nil
	}
	var cause string
	if de.Err != nil {
		cause = de.Err.Error()
	}
	if len(de.Code) <= MaxCodeBytes && len(de.Reply) <= MaxReplyBytes && len(de.Remedy) <= MaxRemedyBytes && len(cause) <= MaxErrorBytes {
		return de
	}
	c := *de
	c.Code = truncate(de.Code, MaxCodeBytes)
	c.Reply = truncate(de.Reply, MaxReplyBytes)
	c.Remedy = truncate(de.Remedy, MaxRemedyBytes)
	if len(cause) > MaxErrorBytes {
		c.Err = &cutError{text: truncate(cause, MaxErrorBytes), err: de.Err}
	}
	return &c
}
