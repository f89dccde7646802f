package outboxapi

import (
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Path is where the agent serves its outbox (see Routes).
const Path = "/v1/outbox"

// Entry is how the outbox API and `tocsin outbox` show an entry: where it
// comes from, where it stands and how its last attempt failed. The
// message's body, headers and attachment bytes are left out.
type Entry struct {
	ID      string   `json:"id"`
	Rule    string   `json:"rule"`
	Event   string   `json:"event"`
	Contact string   `json:"contact"`
	Via     []string `json:"via"`
	Hop     int      `json:"hop"`
	// Transport is the transport being tried, "" when the chain is
	// exhausted (a dead entry).
	Transport  string    `json:"transport"`
	State      string    `json:"state"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	// NextAttempt is when a pending entry is due; zero for a dead one.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Attempts counts tries on the current transport, TotalAttempts on all.
	Attempts      int      `json:"attempts"`
	TotalAttempts int      `json:"total_attempts"`
	Subject       string   `json:"subject"`
	To            []string `json:"to"`
	// Attachments names the attached files and their sizes.
	Attachments []Attachment `json:"attachments,omitempty"`
	// Last is the last failed attempt; nil before the first failure.
	Last *Attempt `json:"last,omitempty"`
}

// Attachment is an attached file, without its content.
type Attachment struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// Attempt is a failed attempt, as the transport's plugin reported it.
type Attempt struct {
	At        time.Time `json:"at"`
	Transport string    `json:"transport"`
	// Kind is "temporary" or "permanent".
	Kind string `json:"kind"`
	// Code is the provider's code (an SMTP reply code, an HTTP status).
	Code string `json:"code,omitempty"`
	// Reply is the provider's raw answer.
	Reply string `json:"reply,omitempty"`
	// Remedy says what the operator can do about it.
	Remedy string `json:"remedy,omitempty"`
	Error  string `json:"error"`
	// Wait is the Retry-After the provider asked for (a Go duration,
	// such as "1m30s"); empty when it asked for none.
	Wait string `json:"wait,omitempty"`
}

// List is the answer of GET /v1/outbox.
type List struct {
	// Entries are oldest first (by EnqueuedAt, then ID).
	Entries []Entry `json:"entries"`
}

// NewEntry returns the view of e.
func NewEntry(e *outbox.Entry) Entry {
	v := Entry{
		ID:            e.ID,
		Rule:          e.Rule,
		Event:         e.Event,
		Contact:       e.Contact,
		Via:           append([]string{}, e.Via...),
		Hop:           e.Hop,
		Transport:     e.Transport(),
		State:         string(e.State),
		EnqueuedAt:    e.EnqueuedAt,
		Attempts:      e.Attempts,
		TotalAttempts: e.TotalAttempts,
		Subject:       e.Mail.Subject,
		To:            make([]string, 0, len(e.Mail.To)),
	}
	if e.State != outbox.Dead {
		v.NextAttempt = e.NextAttempt
	}
	for _, a := range e.Mail.To {
		v.To = append(v.To, formatAddress(a))
	}
	for _, a := range e.Mail.Attachments {
		v.Attachments = append(v.Attachments, Attachment{Name: a.Filename, Size: len(a.Data)})
	}
	if l := e.Last; l != nil {
		v.Last = &Attempt{
			At: l.At, Transport: l.Transport, Kind: l.Kind, Code: l.Code,
			Reply: l.Reply, Remedy: l.Remedy, Error: l.Error,
		}
		if l.Wait > 0 {
			v.Last.Wait = l.Wait.String()
		}
	}
	return v
}

// NewEntries returns the views of entries, in their order.
func NewEntries(entries []*outbox.Entry) []Entry {
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, NewEntry(e))
	}
	return out
}

// formatAddress writes a as Name <address>, without the MIME encoding of
// mail.Address.String: this is for people, not for a header.
func formatAddress(a sdk.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}
