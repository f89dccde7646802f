package outbox

import (
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// record is an Entry as the outbox stores it: its JSON is the record of
// format 1 (testdata/entry-v1.json pins it). It has structs of its own for
// what the SDK defines (addresses, attachments, headers), so that changing
// the SDK's types never changes the file format: only this file does, and
// with it formatVersion.
//
// Every field of Entry has its field here, in the same order
// (TestRecord_fields).
type record struct {
	ID            string     `json:"id"`
	Rule          string     `json:"rule"`
	Event         string     `json:"event"`
	Contact       string     `json:"contact"`
	Via           []string   `json:"via"`
	Hop           int        `json:"hop"`
	Mail          mailRecord `json:"mail"`
	State         State      `json:"state"`
	EnqueuedAt    time.Time  `json:"enqueued_at"`
	HopSince      time.Time  `json:"hop_since,omitzero"`
	NextAttempt   time.Time  `json:"next_attempt"`
	Attempts      int        `json:"attempts"`
	TotalAttempts int        `json:"total_attempts"`
	Last          *Attempt   `json:"last,omitempty"`
	RetriedAt     time.Time  `json:"retried_at,omitzero"`
}

// mailRecord is a stored Mail.
type mailRecord struct {
	To          []addressRecord    `json:"to"`
	Subject     string             `json:"subject"`
	Text        string             `json:"text,omitempty"`
	HTML        string             `json:"html,omitempty"`
	Attachments []attachmentRecord `json:"attachments,omitempty"`
	Headers     []headerRecord     `json:"headers,omitempty"`
	// Alert is absent from records of mail about no rule, and from those
	// written before alerts were stored: such an entry has no Alert.
	Alert *alertRecord `json:"alert,omitempty"`
}

// alertRecord is a stored sdk.Alert. Refresh is not stored: an entry is
// always a notification of its own.
type alertRecord struct {
	Name     string            `json:"name"`
	State    string            `json:"state"`
	Labels   map[string]string `json:"labels,omitempty"`
	StartsAt time.Time         `json:"starts_at,omitzero"`
	EndsAt   time.Time         `json:"ends_at,omitzero"`
}

// newAlertRecord is a's record; nil stays nil.
func newAlertRecord(a *sdk.Alert) *alertRecord {
	if a == nil {
		return nil
	}
	return &alertRecord{Name: a.Name, State: string(a.State), Labels: a.Labels, StartsAt: a.StartsAt, EndsAt: a.EndsAt}
}

// alert is the sdk.Alert r holds; nil stays nil.
func (r *alertRecord) alert() *sdk.Alert {
	if r == nil {
		return nil
	}
	return &sdk.Alert{Name: r.Name, State: sdk.AlertState(r.State), Labels: r.Labels, StartsAt: r.StartsAt, EndsAt: r.EndsAt}
}

// addressRecord is a stored recipient; format 1 has net/mail's field
// names.
type addressRecord struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// attachmentRecord is a stored attachment; format 1 has the SDK's field
// names, and the data in base64.
type attachmentRecord struct {
	Filename    string `json:"Filename"`
	ContentType string `json:"ContentType"`
	Data        []byte `json:"Data"`
}

// headerRecord is a stored extra header field; format 1 has the SDK's
// field names.
type headerRecord struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// newRecord returns e's record. It shares e's slices (Via, attachment
// data).
func newRecord(e *Entry) *record {
	return &record{
		ID: e.ID, Rule: e.Rule, Event: e.Event, Contact: e.Contact, Via: e.Via, Hop: e.Hop,
		Mail: mailRecord{
			To:      convert(e.Mail.To, func(a sdk.Address) addressRecord { return addressRecord{Name: a.Name, Address: a.Address} }),
			Subject: e.Mail.Subject,
			Text:    e.Mail.Text,
			HTML:    e.Mail.HTML,
			Attachments: convert(e.Mail.Attachments, func(a sdk.Attachment) attachmentRecord {
				return attachmentRecord{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data}
			}),
			Headers: convert(e.Mail.Headers, func(h sdk.Header) headerRecord { return headerRecord{Name: h.Name, Value: h.Value} }),
			Alert:   newAlertRecord(e.Mail.Alert),
		},
		State: e.State, EnqueuedAt: e.EnqueuedAt, HopSince: e.HopSince, NextAttempt: e.NextAttempt,
		Attempts: e.Attempts, TotalAttempts: e.TotalAttempts, Last: e.Last, RetriedAt: e.RetriedAt,
	}
}

// entry returns the Entry r holds. It shares r's slices.
func (r *record) entry() *Entry {
	return &Entry{
		ID: r.ID, Rule: r.Rule, Event: r.Event, Contact: r.Contact, Via: r.Via, Hop: r.Hop,
		Mail: Mail{
			To:      convert(r.Mail.To, func(a addressRecord) sdk.Address { return sdk.Address{Name: a.Name, Address: a.Address} }),
			Subject: r.Mail.Subject,
			Text:    r.Mail.Text,
			HTML:    r.Mail.HTML,
			Attachments: convert(r.Mail.Attachments, func(a attachmentRecord) sdk.Attachment {
				return sdk.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data}
			}),
			Headers: convert(r.Mail.Headers, func(h headerRecord) sdk.Header { return sdk.Header{Name: h.Name, Value: h.Value} }),
			Alert:   r.Mail.Alert.alert(),
		},
		State: r.State, EnqueuedAt: r.EnqueuedAt, HopSince: r.HopSince, NextAttempt: r.NextAttempt,
		Attempts: r.Attempts, TotalAttempts: r.TotalAttempts, Last: r.Last, RetriedAt: r.RetriedAt,
	}
}

// convert maps in with f, keeping nil nil and empty empty (they encode
// differently).
func convert[In, Out any](in []In, f func(In) Out) []Out {
	if in == nil {
		return nil
	}
	out := make([]Out, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
