package sdk

import (
	"errors"
	"strings"
	"time"
)

// Kind says whether a failed delivery may succeed if tried again.
type Kind int

// The kinds of delivery error.
const (
	// Temporary: try again later (a 4xx reply, a dropped connection, a
	// provider asking us to slow down).
	Temporary Kind = iota + 1
	// Permanent: trying again will fail the same way until someone changes
	// something (a 5xx reply, a rejected credential, a forbidden sender).
	Permanent
)

// String returns "temporary" or "permanent".
func (k Kind) String() string {
	switch k {
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	default:
		return "unknown"
	}
}

// DeliveryError is a failed delivery, classified. Plugins return it from
// Send and Check; it crosses the gRPC boundary field by field, so the agent
// sees the same values.
type DeliveryError struct {
	// Kind is Temporary or Permanent.
	Kind Kind
	// Code is the provider's code, such as "535 5.7.3" or "AADSTS7000215".
	Code string
	// Reply is the provider's raw reply, kept for the operator.
	Reply string
	// Remedy is one sentence telling the operator what to do.
	Remedy string
	// RetryAfter is how long the provider asked us to wait, if it did.
	RetryAfter time.Duration
	// Err is the underlying error. Across gRPC only its text survives.
	Err error
}

// Error reads "permanent error 535 5.7.3: <cause>". The remedy is not part
// of it; callers that show errors to operators print it separately.
func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	b.WriteString(" error")
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	switch {
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	case e.Reply != "":
		b.WriteString(": ")
		b.WriteString(e.Reply)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Temporary reports whether trying again may succeed.
func (e *DeliveryError) Temporary() bool { return e.Kind != Permanent }

// TemporaryError returns a temporary DeliveryError wrapping err.
func TemporaryError(err error, code, remedy string) *DeliveryError {
	return &DeliveryError{Kind: Temporary, Code: code, Remedy: remedy, Err: err}
}

// PermanentError returns a permanent DeliveryError wrapping err.
func PermanentError(err error, code, remedy string) *DeliveryError {
	return &DeliveryError{Kind: Permanent, Code: code, Remedy: remedy, Err: err}
}

// AsDeliveryError returns err as a *DeliveryError. An error that is not one
// becomes a temporary DeliveryError: an unknown failure is retried rather
// than dropped. It returns nil for a nil error.
func AsDeliveryError(err error) *DeliveryError {
	if err == nil {
		return nil
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &DeliveryError{Kind: Temporary, Err: err}
}

// IsTemporary reports whether err may succeed if tried again. Errors that
// are not a *DeliveryError count as temporary.
func IsTemporary(err error) bool {
	return err != nil && AsDeliveryError(err).Temporary()
}

// errorText is used across gRPC, where only the text of Err survives.
type errorText string

func (e errorText) Error() string { return string(e) }

// newErrorText returns an error carrying s, or nil for an empty s.
func newErrorText(s string) error {
	if s == "" {
		return nil
	}
	return errorText(s)
}
