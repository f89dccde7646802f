package testserver

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GraphRoleMailSend is the application permission (role) sendMail needs.
const GraphRoleMailSend = "Mail.Send"

// DefaultGraphMaxRequestBytes is the default request size limit of a
// [Graph] server, about 4 MB as reported for Graph.
const DefaultGraphMaxRequestBytes = 4 << 20

// GraphValidator checks a bearer token for a [Graph] server (whose tokens
// are for the scope https://graph.microsoft.com/.default) and returns the
// application roles it carries, e.g. [GraphRoleMailSend].
type GraphValidator func(token string) (roles []string, err error)

// GraphOptions configures a [Graph] server.
type GraphOptions struct {
	// Validate checks bearer tokens. Required.
	Validate GraphValidator
	// MaxRequestBytes is the largest request body accepted; larger ones
	// get 413. Zero: [DefaultGraphMaxRequestBytes].
	MaxRequestBytes int64
}

// GraphEmailAddress is a recipient of a [GraphMessage].
type GraphEmailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// GraphRecipient is Graph's recipient resource.
type GraphRecipient struct {
	EmailAddress GraphEmailAddress `json:"emailAddress"`
}

// GraphBody is Graph's itemBody: ContentType "Text" or "HTML".
type GraphBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// GraphAttachment is a #microsoft.graph.fileAttachment. ContentBytes is
// base64 on the wire and decoded in a [GraphMessage].
type GraphAttachment struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType,omitempty"`
	ContentBytes []byte `json:"contentBytes"`
}

// GraphHeader is an internetMessageHeader; Name must start with "X-".
type GraphHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// GraphMailMessage is the "message" object of a sendMail request.
type GraphMailMessage struct {
	Subject                string            `json:"subject"`
	Body                   GraphBody         `json:"body"`
	ToRecipients           []GraphRecipient  `json:"toRecipients,omitempty"`
	CcRecipients           []GraphRecipient  `json:"ccRecipients,omitempty"`
	BccRecipients          []GraphRecipient  `json:"bccRecipients,omitempty"`
	ReplyTo                []GraphRecipient  `json:"replyTo,omitempty"`
	Attachments            []GraphAttachment `json:"attachments,omitempty"`
	InternetMessageHeaders []GraphHeader     `json:"internetMessageHeaders,omitempty"`
}

// GraphMessage is a sendMail request a [Graph] server accepted.
type GraphMessage struct {
	// User is the {id|UPN} of the request path.
	User string
	// Message is the decoded JSON message; zero for the MIME form.
	Message GraphMailMessage
	// SaveToSentItems is the request's saveToSentItems (default true).
	SaveToSentItems bool
	// MIME is the RFC 822 message of a MIME-form request (Content-Type
	// text/plain, base64 body); nil for the JSON form.
	MIME []byte
}

// Graph is an in-process stand-in for Microsoft Graph's
// POST /v1.0/users/{id|UPN}/sendMail, served over real TLS on 127.0.0.1
// with a certificate from a [CA].
//
// The bearer token must pass [GraphOptions.Validate] (else 401
// InvalidAuthenticationToken) and carry the [GraphRoleMailSend] role (else
// 403 ErrorAccessDenied). A JSON body (application/json) is decoded
// strictly, unknown fields rejected, into {"message": [GraphMailMessage],
// "saveToSentItems"}: body contentType must be Text or HTML, attachments
// must be fileAttachments with base64 contentBytes, header names must start
// with X- (else 400 InvalidInternetMessageHeader), and there must be a
// recipient (else 400 ErrorInvalidRecipients). A text/plain body is the
// MIME form: base64 of an RFC 822 message. Success is 202 Accepted with an
// empty body. Errors are Graph's JSON
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
// A Graph is safe for concurrent use.
type Graph struct {
	srv      *httptest.Server
	validate GraphValidator
	maxBytes int64

	mu         sync.Mutex
	noMailbox  map[string]bool
	throttle   int
	retryAfter time.Duration
	messages   []GraphMessage
	requests   int
}

// StartGraph starts a [Graph] server with a certificate from ca for
// 127.0.0.1 and localhost. Close it when done.
func StartGraph(ca *CA, opts GraphOptions) (*Graph, error) {
	if opts.Validate == nil {
		return nil, fmt.Errorf("testserver: GraphOptions.Validate is required")
	}
	g := &Graph{validate: opts.Validate, maxBytes: opts.MaxRequestBytes, noMailbox: map[string]bool{}}
	if g.maxBytes <= 0 {
		g.maxBytes = DefaultGraphMaxRequestBytes
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.0/users/{user}/sendMail", g.handle)
	srv, err := startHTTPS(ca, mux)
	if err != nil {
		return nil, err
	}
	g.srv = srv
	return g, nil
}

// StartGraphT is [StartGraph] for tests: it fails t on error and closes the
// server when the test ends.
func StartGraphT(t testing.TB, ca *CA, opts GraphOptions) *Graph {
	t.Helper()
	g, err := StartGraph(ca, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// Close shuts the server down, waiting for requests in flight.
func (g *Graph) Close() { g.srv.Close() }

// URL returns the base URL, https://127.0.0.1:port, standing for
// https://graph.microsoft.com.
func (g *Graph) URL() string { return g.srv.URL }

// DisableMailbox makes sendMail for user (id or UPN, case-insensitive) fail
// with 404 MailboxNotEnabledForRESTAPI, as for a user without an Exchange
// Online mailbox.
func (g *Graph) DisableMailbox(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.noMailbox[strings.ToLower(user)] = true
}

// Throttle makes the next n requests fail with 429 ApplicationThrottled and
// a Retry-After header of retryAfter in whole seconds (at least 1).
func (g *Graph) Throttle(n int, retryAfter time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.throttle, g.retryAfter = n, retryAfter
}

// Messages returns a copy of the requests accepted so far, in order.
func (g *Graph) Messages() []GraphMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.messages)
}

// Requests returns the number of sendMail requests received, failed or not.
func (g *Graph) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

func graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	reqID := graphUUID()
	clientID := r.Header.Get("client-request-id")
	if clientID == "" {
		clientID = reqID
	}
	w.Header().Set("request-id", reqID)
	w.Header().Set("client-request-id", clientID)
	googleWriteJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]string{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": clientID,
		},
	}})
}

func graphUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (g *Graph) handle(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	g.mu.Lock()
	g.requests++
	throttled, retry := g.throttle > 0, g.retryAfter
	if throttled {
		g.throttle--
	}
	noMailbox := g.noMailbox[strings.ToLower(user)]
	g.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", strconv.Itoa(max(int(retry/time.Second), 1)))
		graphError(w, r, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		graphError(w, r, 401, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	roles, err := g.validate(token)
	if err != nil {
		graphError(w, r, 401, "InvalidAuthenticationToken", "Access token validation failure.")
		return
	}
	if !slices.Contains(roles, GraphRoleMailSend) {
		graphError(w, r, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBytes+1))
	if err != nil {
		graphError(w, r, 400, "RequestBodyRead", "Could not read the request body.")
		return
	}
	if int64(len(body)) > g.maxBytes {
		graphError(w, r, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("The request body exceeds the maximum of %d bytes.", g.maxBytes))
		return
	}
	if noMailbox {
		graphError(w, r, 404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var rec GraphMessage
	switch mt {
	case "text/plain":
		raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(body)))
		if err != nil || len(raw) == 0 {
			graphError(w, r, 400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
		rec = GraphMessage{User: user, SaveToSentItems: true, MIME: raw}
	case "application/json":
		var req struct {
			Message         *GraphMailMessage `json:"message"`
			SaveToSentItems *bool             `json:"saveToSentItems"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			graphError(w, r, 400, "RequestBodyRead", fmt.Sprintf("Invalid request body: %v", err))
			return
		}
		if req.Message == nil {
			graphError(w, r, 400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
			return
		}
		m := req.Message
		switch {
		case strings.EqualFold(m.Body.ContentType, "Text"), strings.EqualFold(m.Body.ContentType, "HTML"):
		default:
			graphError(w, r, 400, "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", m.Body.ContentType))
			return
		}
		for _, a := range m.Attachments {
			if a.ODataType != "#microsoft.graph.fileAttachment" {
				graphError(w, r, 400, "RequestBodyRead", fmt.Sprintf("Unsupported attachment type '%s'.", a.ODataType))
				return
			}
			if a.Name == "" {
				graphError(w, r, 400, "ErrorInvalidParameter", "The attachment name is empty.")
				return
			}
		}
		for _, h := range m.InternetMessageHeaders {
			if len(h.Name) < 2 || !strings.EqualFold(h.Name[:2], "X-") {
				graphError(w, r, 400, "InvalidInternetMessageHeader", fmt.Sprintf("The internet message header name '%s' should start with 'x-' or 'X-'.", h.Name))
				return
			}
		}
		if len(m.ToRecipients)+len(m.CcRecipients)+len(m.BccRecipients) == 0 {
			graphError(w, r, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
			return
		}
		for _, rs := range [][]GraphRecipient{m.ToRecipients, m.CcRecipients, m.BccRecipients} {
			for _, rc := range rs {
				if !strings.Contains(rc.EmailAddress.Address, "@") {
					graphError(w, r, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
					return
				}
			}
		}
		rec = GraphMessage{User: user, Message: *m, SaveToSentItems: req.SaveToSentItems == nil || *req.SaveToSentItems}
	default:
		graphError(w, r, 415, "UnsupportedMediaType", fmt.Sprintf("Content type '%s' is not supported.", r.Header.Get("Content-Type")))
		return
	}
	g.mu.Lock()
	g.messages = append(g.messages, rec)
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
