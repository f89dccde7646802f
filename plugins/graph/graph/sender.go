package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Receipt is what a delivered message's Result carries: Graph's answer
// means accepted for delivery, not delivered.
const Receipt = "202 Accepted"

// sender is a configured transport: where to send, as whom, with which
// tokens. It is safe for concurrent use.
type sender struct {
	hc              *http.Client
	tokens          *oauth.Cache
	endpoint        string // graph_endpoint, no trailing slash
	mailbox         string // the transport's from address
	saveToSentItems bool
	userAgent       string
	logger          hclog.Logger
	now             func() time.Time
}

// tokenError is a failure to get an access token; it ends the batch.
type tokenError struct{ de *sdk.DeliveryError }

func (e *tokenError) Error() string { return e.de.Error() }
func (e *tokenError) Unwrap() error { return e.de }

// token returns an access token from the cache, or why there is none.
func (s *sender) token(ctx context.Context) (string, *sdk.DeliveryError) {
	tok, err := s.tokens.Token(ctx)
	if err != nil {
		return "", oauth.Classify(err)
	}
	return tok.AccessToken, nil
}

// check gets a token and makes one request to graph_endpoint, whose answer
// (any status) proves that the endpoint is reachable and its certificate
// trusted. The request carries no token.
func (s *sender) check(ctx context.Context) error {
	if _, de := s.token(ctx); de != nil {
		return de
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.endpoint+"/v1.0/", nil)
	if err != nil {
		return sdk.PermanentError(fmt.Errorf("check graph_endpoint: %w", err), "", "Set graph_endpoint to an https URL such as "+DefaultEndpoint+".")
	}
	req.Header.Set("User-Agent", s.userAgent)
	resp, err := s.hc.Do(req)
	if err != nil {
		return classifyLocal(fmt.Errorf("check graph_endpoint: %w", err), req.URL.Host)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, oauth.MaxReplyBytes))
	_ = resp.Body.Close()
	return nil
}

// send delivers msgs one request each. A failure to get a token is the
// same for every message: it fails the whole batch when no message was
// accepted yet, else the messages not sent yet.
func (s *sender) send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	results := make([]sdk.Result, len(msgs))
	accepted := false
	for i, m := range msgs {
		results[i].MessageID = m.ID
		if err := ctx.Err(); err != nil {
			results[i].Err = classifyLocal(fmt.Errorf("send message %s: %w", m.ID, err), s.endpoint)
			continue
		}
		err := s.sendOne(ctx, m)
		var te *tokenError
		if errors.As(err, &te) {
			if !accepted {
				return nil, te.de
			}
			for j := i; j < len(msgs); j++ {
				results[j] = sdk.Result{MessageID: msgs[j].ID, Err: te.de}
			}
			return results, nil
		}
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Receipt = Receipt
		accepted = true
	}
	return results, nil
}

// sendOne sends one message. On a 401 it drops the cached token and tries
// once more with a fresh one.
func (s *sender) sendOne(ctx context.Context, m *sdk.Message) error {
	if err := m.Validate(); err != nil {
		return sdk.PermanentError(fmt.Errorf("message %s: %w", m.ID, err), "", remedyInvalid)
	}
	r, dropped := newRequest(m, s.saveToSentItems)
	if len(dropped) > 0 {
		s.logger.Debug("Graph takes only X- headers; dropping the others", "message", m.ID, "headers", dropped)
	}
	if n := r.attachmentBytes(); n > MaxAttachmentBytes {
		return sdk.PermanentError(fmt.Errorf("message %s: attachments take %d bytes base64-encoded, over Graph's %d-byte limit for one request", m.ID, n, MaxAttachmentBytes), "", remedyTooBig)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return sdk.PermanentError(fmt.Errorf("encode message %s: %w", m.ID, err), "", remedyInvalid)
	}
	for attempt := 1; ; attempt++ {
		token, de := s.token(ctx)
		if de != nil {
			return &tokenError{de}
		}
		status, de := s.post(ctx, m.ID, body, token)
		if status == http.StatusUnauthorized && attempt == 1 {
			s.logger.Debug("Graph rejected the access token; fetching a new one", "message", m.ID)
			s.tokens.Invalidate()
			continue
		}
		if de != nil {
			return de
		}
		return nil
	}
}

// post makes one sendMail request and returns Graph's status (0 when there
// was no answer) and, unless Graph accepted the message, the error.
func (s *sender) post(ctx context.Context, id string, body []byte, token string) (int, *sdk.DeliveryError) {
	u := s.endpoint + "/v1.0/users/" + url.PathEscape(s.mailbox) + "/sendMail"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, sdk.PermanentError(fmt.Errorf("send message %s: %w", id, err), "", "Check graph_endpoint and the transport's from.")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, classifyLocal(fmt.Errorf("send message %s: %w", id, err), req.URL.Host)
	}
	defer resp.Body.Close()
	reply, cut, err := oauth.ReadReply(resp.Body)
	if resp.StatusCode == http.StatusAccepted {
		return resp.StatusCode, nil // accepted; an unreadable empty body changes nothing
	}
	if err != nil {
		s.logger.Debug("cannot read Graph's error reply", "message", id, "error", err)
	}
	de := classifyReply(resp.StatusCode, resp.Header, reply, s.now())
	if cut {
		de.Reply += " " + oauth.CutNote
		de.Err = fmt.Errorf("graph replied %s", de.Reply)
	}
	de.Err = fmt.Errorf("send message %s as %s: %w", id, s.mailbox, de.Err)
	return resp.StatusCode, de
}
