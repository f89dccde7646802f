package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// OutboxAPIPath is where the agent serves its outbox (see OutboxRoutes).
const OutboxAPIPath = "/v1/outbox"

// OutboxEntry is how the outbox API and `tocsin outbox` show an entry:
// where it comes from, where it stands and how its last attempt failed.
// The message's body, headers and attachment bytes are left out.
type OutboxEntry struct {
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
	Attachments []OutboxAttachment `json:"attachments,omitempty"`
	// Last is the last failed attempt; nil before the first failure.
	Last *OutboxAttempt `json:"last,omitempty"`
}

// OutboxAttachment is an attached file, without its content.
type OutboxAttachment struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// OutboxAttempt is a failed attempt, as the transport's plugin reported it.
type OutboxAttempt struct {
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

// OutboxList is the answer of GET /v1/outbox.
type OutboxList struct {
	// Entries are oldest first (by EnqueuedAt, then ID).
	Entries []OutboxEntry `json:"entries"`
}

// APIError is the body of the outbox API's error answers.
type APIError struct {
	Message string `json:"error"`
}

// Error implements error.
func (e *APIError) Error() string { return e.Message }

// NewOutboxEntry returns the view of e.
func NewOutboxEntry(e *outbox.Entry) OutboxEntry {
	v := OutboxEntry{
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
		v.Attachments = append(v.Attachments, OutboxAttachment{Name: a.Filename, Size: len(a.Data)})
	}
	if l := e.Last; l != nil {
		v.Last = &OutboxAttempt{
			At: l.At, Transport: l.Transport, Kind: l.Kind, Code: l.Code,
			Reply: l.Reply, Remedy: l.Remedy, Error: l.Error,
		}
		if l.Wait > 0 {
			v.Last.Wait = l.Wait.String()
		}
	}
	return v
}

// formatAddress writes a as Name <address>, without the MIME encoding of
// mail.Address.String: this is for people, not for a header.
func formatAddress(a sdk.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

// OutboxRoutes returns the outbox API, for server.Handlers.Routes:
//
//	GET    /v1/outbox[?state=pending|dead]  OutboxList
//	GET    /v1/outbox/{id}                  OutboxEntry; 404 if unknown
//	POST   /v1/outbox/{id}/retry            retry from the first transport now; the OutboxEntry
//	DELETE /v1/outbox/{id}                  drop the entry; 204
//
// Retry and drop answer only callers on this host (server.LocalOnly).
// Errors are JSON APIError bodies. After a retry, kick (if not nil) wakes
// the dispatcher so that the entry goes out at once.
func OutboxRoutes(ob *outbox.Outbox, kick func()) map[string]http.Handler {
	api := &outboxAPI{ob: ob, kick: kick}
	return map[string]http.Handler{
		"GET " + OutboxAPIPath:                  http.HandlerFunc(api.list),
		"GET " + OutboxAPIPath + "/{id}":        http.HandlerFunc(api.get),
		"POST " + OutboxAPIPath + "/{id}/retry": server.LocalOnly(http.HandlerFunc(api.retry)),
		"DELETE " + OutboxAPIPath + "/{id}":     server.LocalOnly(http.HandlerFunc(api.drop)),
	}
}

// outboxAPI serves OutboxRoutes.
type outboxAPI struct {
	ob   *outbox.Outbox
	kick func()
}

func (api *outboxAPI) list(w http.ResponseWriter, r *http.Request) {
	state := outbox.State(r.URL.Query().Get("state"))
	switch state {
	case "", outbox.Pending, outbox.Dead:
	default:
		writeAPIError(w, http.StatusBadRequest, fmt.Errorf("state %q is not %q or %q", state, outbox.Pending, outbox.Dead))
		return
	}
	entries, err := api.ob.List(state)
	if err != nil {
		writeAPIError(w, outboxErrorStatus(err), err)
		return
	}
	out := OutboxList{Entries: make([]OutboxEntry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, NewOutboxEntry(e))
	}
	writeAPIJSON(w, http.StatusOK, out)
}

func (api *outboxAPI) get(w http.ResponseWriter, r *http.Request) {
	e, err := api.ob.Get(r.PathValue("id"))
	if err != nil {
		writeAPIError(w, outboxErrorStatus(err), err)
		return
	}
	writeAPIJSON(w, http.StatusOK, NewOutboxEntry(e))
}

func (api *outboxAPI) retry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.ob.Retry(r.Context(), id); err != nil {
		writeAPIError(w, outboxErrorStatus(err), err)
		return
	}
	if api.kick != nil {
		api.kick()
	}
	e, err := api.ob.Get(id)
	if err != nil {
		// Sent (or dropped) already, between the retry and now.
		writeAPIError(w, outboxErrorStatus(err), err)
		return
	}
	writeAPIJSON(w, http.StatusOK, NewOutboxEntry(e))
}

func (api *outboxAPI) drop(w http.ResponseWriter, r *http.Request) {
	if err := api.ob.Drop(r.Context(), r.PathValue("id")); err != nil {
		writeAPIError(w, outboxErrorStatus(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// outboxErrorStatus is the HTTP status of an outbox error.
func outboxErrorStatus(err error) int {
	switch {
	case errors.Is(err, outbox.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, outbox.ErrClosed):
		return http.StatusServiceUnavailable // the agent is stopping
	default:
		return http.StatusInternalServerError
	}
}

func writeAPIError(w http.ResponseWriter, status int, err error) {
	writeAPIJSON(w, status, APIError{Message: err.Error()})
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
