package testserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Gmail API scopes that allow sending.
const (
	GmailScopeSend = "https://www.googleapis.com/auth/gmail.send"
	GmailScopeFull = "https://mail.google.com/"
)

// GmailMaxMessageBytes is the largest message the Gmail API takes, 35 MiB.
const GmailMaxMessageBytes = 36700160

// GmailValidator checks a bearer token for a [Gmail] server and returns the
// user it acts for ("" for a service account token without delegation) and
// its scopes. [GoogleOAuth.GmailValidator] returns one.
type GmailValidator func(token string) (subject string, scopes []string, err error)

// GmailFailure is an error a [Gmail] server can be told to return with
// [Gmail.FailNext].
type GmailFailure int

// The failures [Gmail.FailNext] can inject.
const (
	// GmailRateLimitExceeded: 429, reason rateLimitExceeded.
	GmailRateLimitExceeded GmailFailure = iota + 1
	// GmailUserRateLimitExceeded: 429, reason userRateLimitExceeded
	// (sending limits that can last hours).
	GmailUserRateLimitExceeded
	// GmailFailedPrecondition: 400, reason failedPrecondition (what a
	// service account token without a delegated subject gets).
	GmailFailedPrecondition
	// GmailAuthError: 401, reason authError (refresh the token).
	GmailAuthError
)

// GmailOptions configures a [Gmail] server.
type GmailOptions struct {
	// Validate checks bearer tokens. Required.
	Validate GmailValidator
}

// GmailMessage is a message a [Gmail] server accepted.
type GmailMessage struct {
	// UserID is the {userId} of the request path ("me" or an address).
	UserID string
	// Subject is the user the token acted for.
	Subject string
	// Upload reports whether the message came by media upload
	// (message/rfc822) rather than as JSON {"raw"}.
	Upload bool
	// Raw is the RFC 822 message.
	Raw []byte
	// ID is the message id returned (also the threadId).
	ID string
}

// Gmail is an in-process stand-in for the Gmail API's messages.send, served
// over real TLS on 127.0.0.1 with a certificate from a [CA]:
//
//   - POST /upload/gmail/v1/users/{userId}/messages/send?uploadType=media
//     with Content-Type message/rfc822 and the raw message as body (at most
//     [GmailMaxMessageBytes]);
//   - POST /gmail/v1/users/{userId}/messages/send with JSON
//     {"raw": base64url(message)} (unknown fields are rejected).
//
// The bearer token must pass [GmailOptions.Validate] (else 401 authError)
// and carry [GmailScopeSend] or [GmailScopeFull] (else 403
// insufficientPermissions); a token without subject gets 400
// failedPrecondition; userId must be "me" or the token's subject (else 403
// forbidden). The message must parse as RFC 822 and have a To, Cc or Bcc
// header (else 400 invalidArgument). Success is 200
// {"id","threadId","labelIds":["SENT"]}. Errors are Google's JSON
// {"error":{"code","message","status","errors":[{"domain","reason","message"}]}}.
// A Gmail is safe for concurrent use.
type Gmail struct {
	srv      *httptest.Server
	validate GmailValidator

	mu       sync.Mutex
	failures []GmailFailure
	messages []GmailMessage
	requests int
	seq      int
}

// StartGmail starts a [Gmail] server with a certificate from ca for
// 127.0.0.1 and localhost. Close it when done.
func StartGmail(ca *CA, opts GmailOptions) (*Gmail, error) {
	if opts.Validate == nil {
		return nil, fmt.Errorf("testserver: GmailOptions.Validate is required")
	}
	g := &Gmail{validate: opts.Validate}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload/gmail/v1/users/{userId}/messages/send", func(w http.ResponseWriter, r *http.Request) { g.handle(w, r, true) })
	mux.HandleFunc("POST /gmail/v1/users/{userId}/messages/send", func(w http.ResponseWriter, r *http.Request) { g.handle(w, r, false) })
	srv, err := startHTTPS(ca, mux)
	if err != nil {
		return nil, err
	}
	g.srv = srv
	return g, nil
}

// StartGmailT is [StartGmail] for tests: it fails t on error and closes the
// server when the test ends.
func StartGmailT(t testing.TB, ca *CA, opts GmailOptions) *Gmail {
	t.Helper()
	g, err := StartGmail(ca, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// GmailValidator returns a [GmailValidator] accepting the access tokens
// this [GoogleOAuth] issued.
func (g *GoogleOAuth) GmailValidator() GmailValidator {
	return func(token string) (string, []string, error) {
		c, err := g.Validate(token)
		return c.Subject, c.Scopes, err
	}
}

// Close shuts the server down, waiting for requests in flight.
func (g *Gmail) Close() { g.srv.Close() }

// URL returns the base URL, https://127.0.0.1:port, standing for
// https://gmail.googleapis.com.
func (g *Gmail) URL() string { return g.srv.URL }

// FailNext makes the next len(failures) send requests fail, in order, with
// these failures, after the path is matched and before the token is
// checked. Calls add to the queue.
func (g *Gmail) FailNext(failures ...GmailFailure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, failures...)
}

// Messages returns a copy of the messages accepted so far, in order.
func (g *Gmail) Messages() []GmailMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GmailMessage, len(g.messages))
	for i, m := range g.messages {
		m.Raw = slices.Clone(m.Raw)
		out[i] = m
	}
	return out
}

// Requests returns the number of send requests received, failed or not.
func (g *Gmail) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// gmailError writes Google's API error JSON.
func gmailError(w http.ResponseWriter, code int, status, reason, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	type item struct {
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	googleWriteJSON(w, code, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"status":  status,
		"errors":  []item{{Domain: "global", Reason: reason, Message: msg}},
	}})
}

func gmailFailure(w http.ResponseWriter, f GmailFailure) {
	switch f {
	case GmailRateLimitExceeded:
		gmailError(w, 429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded")
	case GmailUserRateLimitExceeded:
		gmailError(w, 429, "RESOURCE_EXHAUSTED", "userRateLimitExceeded", "User-rate limit exceeded.")
	case GmailFailedPrecondition:
		gmailError(w, 400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed.")
	default:
		gmailError(w, 401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
}

func (g *Gmail) handle(w http.ResponseWriter, r *http.Request, upload bool) {
	g.mu.Lock()
	g.requests++
	var fail GmailFailure
	if len(g.failures) > 0 {
		fail, g.failures = g.failures[0], g.failures[1:]
	}
	g.mu.Unlock()
	if fail != 0 {
		gmailFailure(w, fail)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		gmailFailure(w, GmailAuthError)
		return
	}
	subject, scopes, err := g.validate(token)
	if err != nil {
		gmailFailure(w, GmailAuthError)
		return
	}
	if !slices.Contains(scopes, GmailScopeSend) && !slices.Contains(scopes, GmailScopeFull) {
		gmailError(w, 403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return
	}
	if subject == "" {
		gmailFailure(w, GmailFailedPrecondition)
		return
	}
	userID := r.PathValue("userId")
	if userID != "me" && !strings.EqualFold(userID, subject) {
		gmailError(w, 403, "PERMISSION_DENIED", "forbidden", "Delegation denied for "+subject)
		return
	}
	var raw []byte
	if upload {
		if r.URL.Query().Get("uploadType") != "media" {
			gmailError(w, 400, "INVALID_ARGUMENT", "badRequest", "Invalid upload request: uploadType must be media.")
			return
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "message/rfc822" {
			gmailError(w, 400, "INVALID_ARGUMENT", "badContent", fmt.Sprintf("Media type '%s' is not supported. Valid media types: [message/*]", r.Header.Get("Content-Type")))
			return
		}
		raw, err = io.ReadAll(io.LimitReader(r.Body, GmailMaxMessageBytes+1))
		if err != nil {
			gmailError(w, 400, "INVALID_ARGUMENT", "badRequest", "Could not read the request body.")
			return
		}
		if len(raw) > GmailMaxMessageBytes {
			gmailError(w, 413, "INVALID_ARGUMENT", "uploadTooLarge", "Media larger than the maximum allowed size of 36700160 bytes.")
			return
		}
	} else {
		// base64url inflates by 4/3; allow some room for the JSON around it.
		body, err := io.ReadAll(io.LimitReader(r.Body, GmailMaxMessageBytes*4/3+1024))
		if err != nil {
			gmailError(w, 400, "INVALID_ARGUMENT", "badRequest", "Could not read the request body.")
			return
		}
		var req struct {
			Raw *string `json:"raw"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			gmailError(w, 400, "INVALID_ARGUMENT", "invalid", fmt.Sprintf("Invalid JSON payload received. %v", err))
			return
		}
		if req.Raw == nil || *req.Raw == "" {
			gmailError(w, 400, "INVALID_ARGUMENT", "invalidArgument", "'raw' RFC822 payload message string or uploading message via /upload/* URL required")
			return
		}
		raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(*req.Raw, "="))
		if err != nil {
			gmailError(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed")
			return
		}
		if len(raw) > GmailMaxMessageBytes {
			gmailError(w, 413, "INVALID_ARGUMENT", "uploadTooLarge", "Message larger than the maximum allowed size of 36700160 bytes.")
			return
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		gmailError(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid RFC 822 message.")
		return
	}
	if msg.Header.Get("To") == "" && msg.Header.Get("Cc") == "" && msg.Header.Get("Bcc") == "" {
		gmailError(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Recipient address required")
		return
	}
	g.mu.Lock()
	g.seq++
	id := fmt.Sprintf("18f%013x", g.seq)
	g.messages = append(g.messages, GmailMessage{UserID: userID, Subject: subject, Upload: upload, Raw: raw, ID: id})
	g.mu.Unlock()
	googleWriteJSON(w, http.StatusOK, map[string]any{"id": id, "threadId": id, "labelIds": []string{"SENT"}})
}
