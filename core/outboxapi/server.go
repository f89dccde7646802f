package outboxapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/server"
)

// Store is what the server needs of the outbox; *outbox.Outbox is one.
// Errors wrap outbox.ErrNotFound for an unknown entry and
// outbox.ErrClosed once the outbox is closed.
type Store interface {
	// List returns the entries in state ("" for all), oldest first.
	List(state outbox.State) ([]*outbox.Entry, error)
	// Get returns the entry id.
	Get(id string) (*outbox.Entry, error)
	// Retry puts the entry id back at its first transport, due now.
	Retry(ctx context.Context, id string) error
	// Drop deletes the entry id.
	Drop(ctx context.Context, id string) error
}

// Kicker wakes the dispatcher, so that an entry put back by a retry goes
// out at once; *delivery.Dispatcher is one. Kick must not block.
type Kicker interface {
	Kick()
}

// KickFunc is a Kicker made of a function.
type KickFunc func()

// Kick calls f.
func (f KickFunc) Kick() { f() }

// Routes returns the outbox API on st, for server.Handlers.Routes (see
// the package doc for the routes and their answers). The agent's Guard
// gives these patterns the admin role. Retry and drop also answer only
// callers on this host (server.LocalOnly), whatever their credential.
// Errors are JSON Error bodies. After a
// retry, kick (if not nil) wakes the dispatcher so that the entry goes
// out at once.
func Routes(st Store, kick Kicker) map[string]http.Handler {
	api := &handlers{st: st, kick: kick}
	return map[string]http.Handler{
		"GET " + Path:                  http.HandlerFunc(api.list),
		"GET " + Path + "/{id}":        http.HandlerFunc(api.get),
		"POST " + Path + "/{id}/retry": server.LocalOnly(http.HandlerFunc(api.retry)),
		"DELETE " + Path + "/{id}":     server.LocalOnly(http.HandlerFunc(api.drop)),
	}
}

// handlers serves Routes.
type handlers struct {
	st   Store
	kick Kicker
}

func (api *handlers) list(w http.ResponseWriter, r *http.Request) {
	state := outbox.State(r.URL.Query().Get("state"))
	switch state {
	case "", outbox.Pending, outbox.Dead:
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("state %q is not %q or %q", state, outbox.Pending, outbox.Dead))
		return
	}
	entries, err := api.st.List(state)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, List{Entries: NewEntries(entries)})
}

func (api *handlers) get(w http.ResponseWriter, r *http.Request) {
	e, err := api.st.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, NewEntry(e))
}

func (api *handlers) retry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.st.Retry(r.Context(), id); err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	if api.kick != nil {
		api.kick.Kick()
	}
	e, err := api.st.Get(id)
	if err != nil {
		// Sent (or dropped) already, between the retry and now.
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, NewEntry(e))
}

func (api *handlers) drop(w http.ResponseWriter, r *http.Request) {
	if err := api.st.Drop(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errorStatus is the HTTP status of an outbox error.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, outbox.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, outbox.ErrClosed):
		return http.StatusServiceUnavailable // the agent is stopping
	default:
		return http.StatusInternalServerError
	}
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, Error{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
