package amclient

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies, in the words of the plugin's settings.
const (
	remedyInvalid     = "Alertmanager refused the alerts themselves; its reply says what was wrong (a label name, a value, start after end). This is a bug in what Tocsin sent: report it with the reply."
	remedyAuth        = "Alertmanager (or the proxy in front of it) refused the credentials: check basic_auth_username and basic_auth_password, or bearer_token, against what it expects (web.config.file basic_auth_users, or the proxy's configuration)."
	remedyNotFound    = "There is no Alertmanager v2 API at this address: check urls and path_prefix (Alertmanager's --web.route-prefix, or the proxy's path). Alertmanager 0.16 or later is needed."
	remedyTooLarge    = "The alerts are larger than Alertmanager (or a proxy) takes: shorten the rule's text."
	remedyRejected    = "Alertmanager refused the request; its reply says why. Check urls, path_prefix and the credentials."
	remedyRedirect    = "The address answers with a redirect, which Tocsin does not follow (a POST would become a GET): set urls and path_prefix to where Alertmanager's API is."
	remedyThrottled   = "Alertmanager (or a proxy) asked to slow down; Tocsin waits as long as it asked, then retries."
	remedyUnavailable = "Alertmanager is having trouble or is starting; Tocsin retries."
	remedyUnexpected  = "The address answered in a way Alertmanager does not; check that urls point at Alertmanager and not a proxy's page. Tocsin retries."
	remedyURL         = "Check urls and path_prefix."
	remedyCancelled   = "The request was cancelled; Tocsin retries."
	remedyTimeout     = "Alertmanager did not answer in time; Tocsin retries. If this lasts, check the instance, or raise timeout."
	remedyUnreachable = "Cannot reach this Alertmanager: check urls, DNS, the firewall and that it runs (or HTTPS_PROXY); Tocsin retries meanwhile."
	remedyUnknownCA   = "'s certificate is not signed by a CA this host trusts: set ca_file to the PEM file of the CA that signed it."
	remedyHostname    = "'s certificate is for another name: use the name the certificate is for in urls, or fix the certificate."
	remedyExpired     = "'s certificate is expired or not yet valid: renew it, or check this host's clock."
	maxReplyInError   = 600
	redacted          = "(redacted)"
)

// invalidAlerts reports whether an HTTP status (as a DeliveryError's
// Code) means Alertmanager refused the alerts themselves, which every
// instance would.
func invalidAlerts(code string) bool {
	return code == "400" || code == "422" || code == "413"
}

// classifyReply turns a reply other than 2xx into a DeliveryError: Code is
// the status, Reply the status line and what Alertmanager said,
// RetryAfter what a temporary one's Retry-After asks.
func (c *Client) classifyReply(op string, status int, h http.Header, body []byte, cut bool) *sdk.DeliveryError {
	reply := strings.TrimSpace(fmt.Sprintf("%d %s", status, http.StatusText(status)))
	if t := replyText(body); t != "" {
		reply += ": " + t
	}
	if cut {
		reply += " " + oauth.CutNote
	}
	reply = c.redact(reply)
	de := &sdk.DeliveryError{Kind: sdk.Permanent, Code: strconv.Itoa(status), Reply: reply, Err: errors.New(op + ": " + reply)}
	switch {
	case invalidAlerts(de.Code) && status != http.StatusRequestEntityTooLarge:
		de.Remedy = remedyInvalid
	case status == http.StatusRequestEntityTooLarge:
		de.Remedy = remedyTooLarge
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		de.Remedy = remedyAuth
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		de.Remedy = remedyNotFound
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
		de.RetryAfter = oauth.RetryAfter(h.Get("Retry-After"), c.cfg.Now())
	}
	return de
}

// replyText is what Alertmanager said, on one line: a JSON string (its
// validation errors) unquoted, a JSON object's "message" (the API
// framework's errors), else the start of the body.
func replyText(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return oneLine(s)
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &obj) == nil && obj.Message != "" {
		return oneLine(obj.Message)
	}
	return oneLine(string(b))
}

// oneLine is s on one line, valid UTF-8, at most maxReplyInError bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) <= maxReplyInError {
		return s
	}
	n := maxReplyInError
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// classifyLocal turns a failure to get an answer into a DeliveryError.
// Its text names the request, never the credentials.
func (c *Client) classifyLocal(err error, op string) *sdk.DeliveryError {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		netErr    net.Error
	)
	// A *url.Error quotes the URL, which names the instance already.
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	msg := errors.New(c.redact(fmt.Sprintf("%s: %v", op, cause)))
	switch {
	case errors.Is(err, context.Canceled):
		return sdk.TemporaryError(msg, "", remedyCancelled)
	case errors.Is(err, context.DeadlineExceeded):
		return sdk.TemporaryError(msg, "", remedyTimeout)
	case errors.As(err, &unknownCA):
		return sdk.PermanentError(msg, "", "The instance"+remedyUnknownCA)
	case errors.As(err, &hostname):
		return sdk.PermanentError(msg, "", "The instance"+remedyHostname)
	case errors.As(err, &invalid):
		return sdk.PermanentError(msg, "", "The instance"+remedyExpired)
	case errors.As(err, &netErr) && netErr.Timeout():
		return sdk.TemporaryError(msg, "", remedyTimeout)
	default:
		return sdk.TemporaryError(msg, "", remedyUnreachable)
	}
}

// redact removes the password and the bearer token from s.
func (c *Client) redact(s string) string {
	for _, v := range c.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}
