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
	To          []sdk.Address
	Subject     string
	Text        string
	HTML        string
	Attachments []sdk.Attachment
	Headers     []sdk.Header
	// Alert is the rule's alert the notification is about (sdk.Alert);
	// nil for mail about no rule.
	Alert *sdk.Alert
}

// Attempt is the outcome of one try, kept for the operator. Records hold
// it as it is: its tags are part of the file format.
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

// Entry is one notification to one contact. The outbox stores it as a
// record (record.go), whose JSON is the file format.
type Entry struct {
	// ID is the notification's Message-ID (without angle brackets): stable
	// across retries, transports and restarts, so duplicates can be told.
	ID string
	// Rule, Event and Contact say where the notification comes from.
	Rule    string
	Event   string
	Contact string
	// Via is the contact's transport chain; Hop is the index of the
	// transport being tried.
	Via []string
	Hop int
	// Mail is the message.
	Mail Mail
	// State is Pending or Dead.
	State State
	// EnqueuedAt is when the rule fired; Date of the message.
	EnqueuedAt time.Time
	// HopSince is when the current transport was first tried, for the
	// max age after which the next one takes over.
	HopSince time.Time
	// NextAttempt is when the entry is due.
	NextAttempt time.Time
	// Attempts counts tries on the current hop; TotalAttempts on all.
	Attempts      int
	TotalAttempts int
	// Last is the last failed attempt, nil before the first failure.
	Last *Attempt
	// RetriedAt is when an operator last asked for a retry (tocsin outbox
	// retry); zero if never. A Save of a copy taken before that retry is
	// skipped, so the dispatcher cannot undo it.
	RetriedAt time.Time
}

// Transport returns the transport being tried, or "" when the chain is
// exhausted.
func (e *Entry) Transport() string {
	if e.Hop < 0 || e.Hop >= len(e.Via) {
		return ""
	}
	return e.Via[e.Hop]
}
