package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// sender is a configured transport. It is safe for concurrent use.
type sender struct {
	hc        *http.Client
	url       *url.URL
	format    string
	tmpl      *template.Template
	username  string
	blocks    bool
	secret    []byte
	sigHeader string
	headers   http.Header
	redact    *redactor
	userAgent string
	logger    hclog.Logger
	now       func() time.Time
}

// Sign returns the signature header's value for a body sent at timestamp
// (Unix seconds, as in the timestamp header): "sha256=" and the hex
// HMAC-SHA256, keyed with the secret, of the timestamp, a dot and the
// body.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify is what a receiver does with a request: it recomputes the
// signature over the timestamp header and the raw body, compares it in
// constant time, and refuses a timestamp further than maxSkew from now, so
// a captured request cannot be replayed later.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, maxSkew time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not Unix seconds", timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("timestamp is %v away from now, more than %v: a replay, or a clock off", d.Round(time.Second), maxSkew)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return errors.New("signature does not match")
	}
	return nil
}

// check dials the webhook's host and completes the TLS handshake for
// https, with the transport's trust settings and timeout.
func (s *sender) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.hc.Timeout)
	defer cancel()
	addr := hostPort(s.url)
	d := &net.Dialer{}
	var (
		conn net.Conn
		err  error
	)
	if s.url.Scheme == "https" {
		tr := s.hc.Transport.(*http.Transport)
		cfg := tr.TLSClientConfig.Clone()
		cfg.ServerName = s.url.Hostname()
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return s.classifyLocal(err, "check")
	}
	return conn.Close()
}

// send delivers msgs one request each, in order. A cancelled context
// fails the messages not sent yet as temporary.
func (s *sender) send(ctx context.Context, msgs []*sdk.Message) []sdk.Result {
	results := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		results[i].MessageID = m.ID
		if err := ctx.Err(); err != nil {
			results[i].Err = s.classifyLocal(err, "send message "+m.ID)
			continue
		}
		receipt, err := s.sendOne(ctx, m)
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Receipt = receipt
	}
	return results
}

// sendOne posts one message and returns the receipt, the reply's status.
func (s *sender) sendOne(ctx context.Context, m *sdk.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", sdk.PermanentError(fmt.Errorf("message %s: %w", m.ID, err), "", remedyInvalid)
	}
	body, err := s.body(m)
	if err != nil {
		return "", sdk.PermanentError(s.redact.err("message %s: body_template: %v", m.ID, err), "", remedyTemplate)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return "", sdk.PermanentError(s.redact.err("message %s: build the request: %v", m.ID, err), "", "Check url.")
	}
	for name, vs := range s.headers {
		req.Header[name] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(MessageIDHeader, m.ID)
	if len(s.secret) > 0 {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(s.sigHeader, Sign(s.secret, ts, body))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", s.classifyLocal(err, "send message "+m.ID)
	}
	defer resp.Body.Close()
	reply, wasCut, rerr := oauth.ReadReply(resp.Body)
	status := statusLine(resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return status, nil // delivered; what follows the status changes nothing
	}
	if rerr != nil {
		s.logger.Debug("cannot read the webhook's error reply", "message", m.ID, "error", s.redact.text(rerr.Error()))
	}
	de := s.classifyReply(resp.StatusCode, resp.Header, reply, wasCut)
	de.Err = s.redact.err("send message %s to %s: %s", m.ID, s.redact.where, de.Reply)
	return "", de
}

// statusLine is "202 Accepted".
func statusLine(code int) string {
	return strings.TrimSpace(fmt.Sprintf("%d %s", code, http.StatusText(code)))
}
