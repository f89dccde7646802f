package outboxapi

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is the body of the outbox API's error answers.
type Error struct {
	Message string `json:"error"`
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

// StatusError is an answer of the agent with another status than the
// call expects: the API's own error (404 for an unknown entry, 400, 503
// while the agent stops), a refused credential (401, 403), or the answer
// of something that does not serve this API.
type StatusError struct {
	// Method and Path (with its query) are what was asked, URL the
	// whole address.
	Method, Path, URL string
	// StatusCode is the answer's status code, Status its status line
	// ("404 Not Found").
	StatusCode int
	Status     string
	// Message is the agent's error when the body was an Error; "" when
	// it was not.
	Message string
	// Body is the start of the answer's body.
	Body string
}

// Error implements error: the agent's message, with what was asked when
// the credential was refused or the answer is not the API's.
func (e *StatusError) Error() string {
	switch {
	case e.Refused():
		return fmt.Sprintf("%s %s: the agent refused the request (%s): %s", e.Method, e.Path, e.Status, e.Text())
	case e.Message != "":
		return e.Message
	default:
		return fmt.Sprintf("%s %s: %s: %s (is the agent older than this tocsin?)", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
	}
}

// Refused reports whether the agent refused the request's credential
// (401 Unauthorized or 403 Forbidden).
func (e *StatusError) Refused() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// Text is the agent's error: its Message, else the body's text, trimmed.
func (e *StatusError) Text() string {
	if e.Message != "" {
		return strings.TrimSpace(e.Message)
	}
	return strings.TrimSpace(e.Body)
}
