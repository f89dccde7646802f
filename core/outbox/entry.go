package outbox

import (
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// State is where an entry stands.
type State string

// The states of an entry. A sent entry leaves the outbox.
const (
	// Pending entries wait for their next attempt.
	Pending State = "pending"
	// Dead entries failed on every transport of their chain; they stay,
	// visible and counted, until an operator retries or drops them.
	Dead State = "dead"
)

// Mail is what to send, before a transport gives it a sender: the rendered
// notification and its recipients.
type Mail struct {
	To          []sdk.Address    `json:"to"`
	Subject     string           `json:"subject"`
	Text        string           `json:"text,omitempty"`
	HTML        string           `json:"html,omitempty"`
	Attachments []sdk.Attachment `json:"attachments,omitempty"`
	Headers     []sdk.Header     `json:"headers,omitempty"`
}

// Attempt is the outcome of one try, kept for the operator.
type Attempt struct {
	At        time.Time     `json:"at"`
	Transport string        `json:"transport"`
	Kind      string        `json:"kind"` // "temporary" or "permanent"
	Code      string        `json:"code,omitempty"`
	Reply     string        `json:"reply,omitempty"`
	Remedy    string        `json:"remedy,omitempty"`
	Error     string        `json:"error"`
	Wait      time.Duration `json:"wait,omitempty"` // Retry-After the provider asked for
}

// Entry is one notification to one contact.
type Entry struct {
	// ID is the notification's Message-ID (without angle brackets): stable
	// across retries, transports and restarts, so duplicates can be told.
	ID string `json:"id"`
	// Rule, Event and Contact say where the notification comes from.
	Rule    string `json:"rule"`
	Event   string `json:"event"`
	Contact string `json:"contact"`
	// Via is the contact's transport chain; Hop is the index of the
	// transport being tried.
	Via []string `json:"via"`
	Hop int      `json:"hop"`
	// Mail is the message.
	Mail Mail `json:"mail"`
	// State is Pending or Dead.
	State State `json:"state"`
	// EnqueuedAt is when the rule fired; Date of the message.
	EnqueuedAt time.Time `json:"enqueued_at"`
	// HopSince is when the current transport was first tried, for the
	// max age after which the next one takes over.
	HopSince time.Time `json:"hop_since,omitzero"`
	// NextAttempt is when the entry is due.
	NextAttempt time.Time `json:"next_attempt"`
	// Attempts counts tries on the current hop; TotalAttempts on all.
	Attempts      int `json:"attempts"`
	TotalAttempts int `json:"total_attempts"`
	// Last is the last failed attempt, nil before the first failure.
	Last *Attempt `json:"last,omitempty"`
	// RetriedAt is when an operator last asked for a retry (tocsin outbox
	// retry); zero if never. A Save of a copy taken before that retry is
	// skipped, so the dispatcher cannot undo it.
	RetriedAt time.Time `json:"retried_at,omitzero"`
}

// Transport returns the transport being tried, or "" when the chain is
// exhausted.
func (e *Entry) Transport() string {
	if e.Hop < 0 || e.Hop >= len(e.Via) {
		return ""
	}
	return e.Via[e.Hop]
}
