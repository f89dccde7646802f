// Package outboxapi is the agent's outbox HTTP API, both halves: the
// server (Routes, which the agent mounts beside /healthz and /v1/status)
// and the typed Client the tocsin command uses, with the JSON types they
// share (Entry, List, Error).
//
//	GET    /v1/outbox[?state=pending|dead]  List
//	GET    /v1/outbox/{id}                  Entry; 404 if unknown
//	POST   /v1/outbox/{id}/retry            retry from the first transport now; the Entry
//	DELETE /v1/outbox/{id}                  drop the entry; 204
//
// The server needs only what it reads and changes (Store, satisfied by
// *outbox.Outbox) and a way to wake the dispatcher (Kicker). Credentials
// are not checked here: the agent's server guards every route (the admin
// role for these), and retry and drop answer only callers on the agent's
// own host (server.LocalOnly), as defence in depth on top of the role: an
// admin credential used from the network may list and show, not retry or
// drop. The client reaches the agent through a
// Doer, which brings the connection and the credential.
package outboxapi
