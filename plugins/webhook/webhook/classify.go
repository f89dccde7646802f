package webhook

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies for the webhook's replies.
const (
	remedyGone        = "The webhook was deleted, or url is wrong: create the webhook (or the Teams workflow) again, or copy its URL anew, and set url."
	remedyAuth        = "The receiver refused the request: check that url is whole (a Teams workflow's URL carries its key in sig=...), that hmac_secret is the receiver's secret, and any Authorization in headers; for a Teams workflow, also that it is turned on, that anyone may trigger it, and that its owner may still post to the channel."
	remedyBadRequest  = "The body does not match what the receiver expects: check format (teams for a Teams workflow, slack, mattermost, or json) and body_template; the reply says what it did not accept."
	remedyTooLarge    = "The notification is larger than the receiver takes: send a shorter text (or fewer attachments with format = \"json\")."
	remedyRejected    = "The receiver refused the request; its reply says why. Check url, format and headers."
	remedyThrottled   = "The receiver asked to slow down; Tocsin waits as long as it asked, then retries. If this lasts, set a rate_limit on the transport."
	remedyUnavailable = "The receiver is having trouble; Tocsin retries."
	remedyRedirect    = "The webhook's URL answers with a redirect, which Tocsin does not follow (a POST would become a GET): set url to the address the webhook's setup shows now."
	remedyUnexpected  = "The receiver answered in a way webhooks do not (an informational status); check that url is the webhook and not a proxy's page. Tocsin retries."
	remedyInvalid     = "The agent handed over a message that cannot be sent; this is a bug in the rule or template that made it."
	remedyTemplate    = "body_template made invalid JSON from this notification: write values as {{json .Subject}}, so quotes and line breaks in them stay valid JSON."
	remedyCancelled   = "The send was cancelled; Tocsin retries."
	remedyUnknownCA   = "'s certificate is not signed by a CA this host trusts: set ca_file to the PEM file of the CA that signed it."
	remedyHostname    = "'s certificate is for another name: check url."
	remedyExpired     = "'s certificate is expired or not yet valid: check this host's clock."
	remedyUnreachable = "Cannot reach the webhook's host: check url, DNS and the firewall (or HTTPS_PROXY); Tocsin retries meanwhile."
	remedyTimeout     = "The request ran out of time; Tocsin retries. If this lasts, raise the transport's timeout."
	maxReplyInError   = 600
	redacted          = "(redacted)"
	retryAfterHeader  = "Retry-After"
)

// classifyReply turns a reply other than 2xx into a DeliveryError: Code is
// the HTTP status, Reply the status line and the start of the body
// (redacted), RetryAfter what the Retry-After header asks of a temporary
// one.
func (s *sender) classifyReply(status int, h http.Header, body []byte, wasCut bool) *sdk.DeliveryError {
	reply := statusLine(status)
	if t := oneLine(body); t != "" {
		reply += ": " + t
	}
	if wasCut {
		reply += " " + oauth.CutNote
	}
	reply = s.redact.text(reply)
	de := &sdk.DeliveryError{Kind: sdk.Permanent, Code: strconv.Itoa(status), Reply: reply}
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		de.Remedy = remedyGone
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		de.Remedy = remedyAuth
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity || status == http.StatusUnsupportedMediaType:
		de.Remedy = remedyBadRequest
	case status == http.StatusRequestEntityTooLarge:
		de.Remedy = remedyTooLarge
	case status == http.StatusTooManyRequests:
		de.Kind, de.Remedy = sdk.Temporary, remedyThrottled
	case status == http.StatusRequestTimeout || status >= 500:
		de.Kind, de.Remedy = sdk.Temporary, remedyUnavailable
	case status >= 400:
		de.Remedy = remedyRejected
	case status >= 300:
		de.Remedy = remedyRedirect
	default: // 1xx
		de.Kind, de.Remedy = sdk.Temporary, remedyUnexpected
	}
	if de.Kind == sdk.Temporary {
		de.RetryAfter = RetryAfter(h.Get(retryAfterHeader), s.now())
	}
	return de
}

// oneLine is the start of a reply body on one line, valid UTF-8, at most
// maxReplyInError bytes.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) <= maxReplyInError {
		return s
	}
	n := maxReplyInError
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// RetryAfter reads a Retry-After value, whole seconds or an HTTP date,
// into a wait from now, at most a day; 0 when there is none or it cannot
// be read.
func RetryAfter(v string, now time.Time) time.Duration { return oauth.RetryAfter(v, now) }

// classifyLocal turns a failure to get an answer into a DeliveryError
// whose text names the webhook by scheme and host only.
func (s *sender) classifyLocal(err error, op string) *sdk.DeliveryError {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		netErr    net.Error
	)
	// A *url.Error quotes the whole URL: keep only its cause.
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	host := s.url.Host
	msg := s.redact.err("%s: POST %s: %v", op, s.redact.where, cause)
	if op == "check" {
		msg = s.redact.err("check %s: %v", s.redact.where, cause)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return sdk.TemporaryError(msg, "", remedyCancelled)
	case errors.Is(err, context.DeadlineExceeded):
		return sdk.TemporaryError(msg, "", remedyTimeout)
	case errors.As(err, &unknownCA):
		return sdk.PermanentError(msg, "", host+remedyUnknownCA)
	case errors.As(err, &hostname):
		return sdk.PermanentError(msg, "", host+remedyHostname)
	case errors.As(err, &invalid):
		return sdk.PermanentError(msg, "", host+remedyExpired)
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return sdk.TemporaryError(msg, "", remedyTimeout)
		}
		return sdk.TemporaryError(msg, "", remedyUnreachable)
	default:
		return sdk.TemporaryError(msg, "", remedyUnreachable)
	}
}

// redactor removes the webhook's secrets from a text: the URL (whole, its
// path, its query and each query value), hmac_secret and the values of
// headers. Chat webhooks carry their credential in the path (Slack,
// Mattermost) or the query (a Teams workflow's sig).
type redactor struct {
	secrets []string // longest first
	// where names the webhook in errors: scheme://host/... .
	where string
}

func newRedactor(u *url.URL, secret string, headers http.Header) *redactor {
	r := &redactor{}
	add := func(v string) {
		if len(strings.TrimSpace(v)) >= 4 { // shorter ones match by accident
			r.secrets = append(r.secrets, v)
		}
	}
	if u != nil {
		r.where = u.Scheme + "://" + u.Host + "/..."
		add(u.String())
		add(u.Redacted())
		add(u.EscapedPath())
		add(u.Path)
		add(strings.TrimLeft(u.Path, "/"))
		add(u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
				add(url.QueryEscape(v))
			}
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= 8 { // a token, not "hooks" or "services"
				add(seg)
			}
		}
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	add(secret)
	for _, vs := range headers {
		for _, v := range vs {
			add(v)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// text returns s with every secret replaced by "(redacted)".
func (r *redactor) text(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// err formats an error and redacts its text. It wraps nothing, so no
// unredacted cause can be reached through it.
func (r *redactor) err(format string, args ...any) error {
	return errors.New(r.text(fmt.Sprintf(format, args...)))
}
