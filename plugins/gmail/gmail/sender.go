package gmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// uploadPath is users.messages.send's media upload, for the token's user.
const uploadPath = "/upload/gmail/v1/users/me/messages/send?uploadType=media"

// sender delivers messages through the Gmail API. It is safe for
// concurrent use.
type sender struct {
	endpoint  string // api_endpoint, without a trailing slash
	hc        *http.Client
	userAgent string
	// maxBytes is the largest message uploaded, MaxMessageBytes.
	maxBytes int
	// serviceAccount selects the remedies for a service account rather
	// than an OAuth client.
	serviceAccount bool
	// tokens caches access tokens; nil when missing is set.
	tokens *oauth.Cache
	// missing, when set, is the error of every Check and Send: no refresh
	// token is stored.
	missing *sdk.DeliveryError
}

// check obtains an access token.
func (s *sender) check(ctx context.Context) error {
	if s.missing != nil {
		return s.missing
	}
	if _, err := s.tokens.Token(ctx); err != nil {
		return oauth.Classify(err)
	}
	return nil
}

// send delivers msgs one by one, in order.
func (s *sender) send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if s.missing != nil {
		return nil, s.missing
	}
	results := make([]sdk.Result, len(msgs))
	var stop *sdk.DeliveryError // ends the batch: the rest get it too
	for i, m := range msgs {
		results[i].MessageID = m.ID
		if stop == nil && ctx.Err() != nil {
			stop = sdk.TemporaryError(fmt.Errorf("send: %w", ctx.Err()), "", "")
		}
		if stop != nil {
			results[i].Err = stop
			continue
		}
		receipt, f := s.sendOne(ctx, m)
		if f != nil {
			results[i].Err = f.err
			if f.batch {
				stop = f.err
			}
			continue
		}
		results[i].Receipt = receipt
	}
	return results, nil
}

// failure is a classified failed send.
type failure struct {
	err *sdk.DeliveryError
	// batch is true when the error concerns the credential, the mailbox
	// or the service rather than the message, so that the next message
	// would fail the same way.
	batch bool
}

// sendOne uploads one message. A token Gmail rejects with 401 is dropped
// from the cache and the upload tried once more with a new one.
func (s *sender) sendOne(ctx context.Context, m *sdk.Message) (string, *failure) {
	raw, err := rfc822(m, s.userAgent)
	if err != nil {
		return "", &failure{err: sdk.PermanentError(fmt.Errorf("build message: %w", err), "", "The agent produced a message that cannot be sent; report this as a bug.")}
	}
	if len(raw) > s.maxBytes {
		return "", &failure{err: sdk.PermanentError(
			fmt.Errorf("message is %d bytes, more than the %d the Gmail API takes", len(raw), s.maxBytes),
			"uploadTooLarge", "Gmail takes messages up to 35 MiB, attachments included after encoding: attach less, or link to the data instead.")}
	}
	for retried := false; ; retried = true {
		tok, err := s.tokens.Token(ctx)
		if err != nil {
			return "", &failure{err: oauth.Classify(err), batch: true}
		}
		receipt, err := s.upload(ctx, tok, raw)
		if err == nil {
			return receipt, nil
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.httpStatus == http.StatusUnauthorized && !retried {
			s.tokens.Invalidate()
			continue
		}
		return "", classify(err, s.serviceAccount)
	}
}

// upload posts raw to users.messages.send and returns the receipt.
func (s *sender) upload(ctx context.Context, tok *oauth2.Token, raw []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+uploadPath, bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("new gmail api request: %w", err)
	}
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set("User-Agent", s.userAgent)
	tok.SetAuthHeader(req)
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("post message: %w", err)
	}
	defer resp.Body.Close()
	body, cut, readErr := oauth.ReadReply(resp.Body)
	if resp.StatusCode/100 == 2 {
		// Accepted: a reply that does not parse must not make the agent
		// send the message again.
		var sent struct {
			ID string `json:"id"`
		}
		if readErr != nil || json.Unmarshal(body, &sent) != nil || sent.ID == "" {
			return fmt.Sprintf("gmail accepted the message (HTTP %d) without an id", resp.StatusCode), nil
		}
		return "gmail id " + sent.ID, nil
	}
	if readErr != nil {
		return "", fmt.Errorf("read gmail api reply (HTTP %d): %w", resp.StatusCode, readErr)
	}
	ae := parseAPIError(resp, body, time.Now())
	ae.cut = cut
	return "", ae
}
