package graph

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies for Graph's replies.
const (
	remedyAccessDenied = "The app needs the Microsoft Graph Mail.Send APPLICATION permission with admin consent (a delegated Mail.Send does not work with client credentials); an application access policy in Exchange Online may also restrict which mailboxes it can send as."
	remedyNoMailbox    = "The transport's from must be an Exchange Online mailbox with a license (not an on-premises mailbox, not a group or a contact)."
	remedyRecipients   = "Graph rejected a recipient: check the addresses in the contact's email list."
	remedyBadRequest   = "Graph refused the request as it was built; its reply says what it did not accept."
	remedyTooLarge     = "The message is larger than Graph takes in one request (about 4 MB): attach less, such as a shorter log tail."
	remedyThrottled    = "Graph asked to slow down; Tocsin waits as long as it asked, then retries."
	remedyUnavailable  = "Graph is having trouble; Tocsin retries."
	remedyBadToken     = "Graph rejected an access token the identity platform had just issued; Tocsin retries. If this lasts, check that authority and graph_endpoint belong to the same cloud."
	remedyTooBig       = "Attachments over 3 MB need Graph upload sessions, which this transport does not do yet; use smtp-oauth-ms or send smaller attachments."
	remedyInvalid      = "The agent handed over a message that cannot be sent; this is a bug in the rule or template that made it."
	remedyUnexpected   = "Graph answered sendMail in a way it never does; check that graph_endpoint is Microsoft Graph and not a proxy's page. Tocsin retries."
)

// graphError is the error object of Graph's JSON error replies:
// {"error":{"code","message","innerError":{"date","request-id",...}}}.
type graphError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	InnerError struct {
		Date      string `json:"date"`
		RequestID string `json:"request-id"`
	} `json:"innerError"`
}

// classifyReply turns a Graph reply other than 202 into a DeliveryError:
// Code is Graph's error code (the HTTP status when the body has none),
// Reply the status, code and message with the request-id Microsoft's
// support asks for, RetryAfter what the Retry-After header asks.
func classifyReply(status int, h http.Header, body []byte, now time.Time) *sdk.DeliveryError {
	var env struct {
		Error graphError `json:"error"`
	}
	_ = json.Unmarshal(body, &env) // a body that is not Graph's JSON leaves env empty
	ge := env.Error
	code := ge.Code
	if code == "" {
		code = strconv.Itoa(status)
	}
	reply := strings.TrimSpace(fmt.Sprintf("%d %s", status, http.StatusText(status)))
	if ge.Code != "" {
		reply += " " + ge.Code
	}
	if ge.Message != "" {
		reply += ": " + ge.Message
	}
	if id := firstNonEmpty(ge.InnerError.RequestID, h.Get("request-id")); id != "" {
		reply += " (request-id " + id
		if ge.InnerError.Date != "" {
			reply += ", date " + ge.InnerError.Date
		}
		reply += ")"
	}
	de := &sdk.DeliveryError{Kind: sdk.Permanent, Code: code, Reply: reply, Err: fmt.Errorf("graph replied %s", reply)}
	switch {
	case status == http.StatusUnauthorized:
		de.Kind, de.Remedy = sdk.Temporary, remedyBadToken
	case status == http.StatusForbidden:
		de.Remedy = remedyAccessDenied
	case status == http.StatusNotFound && isMailboxCode(ge.Code):
		de.Remedy = remedyNoMailbox
	case status == http.StatusBadRequest && ge.Code == "ErrorInvalidRecipients":
		de.Remedy = remedyRecipients
	case status == http.StatusRequestEntityTooLarge:
		de.Remedy = remedyTooLarge
	case status == http.StatusTooManyRequests:
		de.Kind, de.Remedy = sdk.Temporary, remedyThrottled
	case status == http.StatusRequestTimeout || status >= 500:
		de.Kind, de.Remedy = sdk.Temporary, remedyUnavailable
	case status >= 400:
		de.Remedy = remedyBadRequest
	default: // 1xx, 2xx other than 202, 3xx: not what sendMail answers
		de.Kind, de.Remedy = sdk.Temporary, remedyUnexpected
	}
	if de.Kind == sdk.Temporary {
		de.RetryAfter = retryAfter(h.Get("Retry-After"), now)
	}
	return de
}

// isMailboxCode reports whether a 404's code says the sending mailbox is
// missing or not in Exchange Online.
func isMailboxCode(code string) bool {
	switch code {
	case "MailboxNotEnabledForRESTAPI", "MailboxNotFound", "ResourceNotFound", "ErrorInvalidUser", "ErrorItemNotFound":
		return true
	}
	return false
}

// maxRetryAfter bounds a Retry-After, so a wild header cannot park mail
// for days (or overflow a Duration).
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After value, whole seconds or an HTTP date,
// into a wait from now; 0 when there is none or it cannot be read.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// classifyLocal turns a failure to get an answer from host into a
// DeliveryError.
func classifyLocal(err error, host string) *sdk.DeliveryError {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		netErr    net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return sdk.TemporaryError(err, "", "The send was cancelled; Tocsin retries.")
	case errors.Is(err, context.DeadlineExceeded):
		return sdk.TemporaryError(err, "", "The request to "+host+" ran out of time; Tocsin retries. If this lasts, raise the transport's timeout.")
	case errors.As(err, &unknownCA):
		return sdk.PermanentError(err, "", host+"'s certificate is not signed by a CA this host trusts: set ca_file to the PEM file of the CA that signed it.")
	case errors.As(err, &hostname):
		return sdk.PermanentError(err, "", host+"'s certificate is for another name: check graph_endpoint.")
	case errors.As(err, &invalid):
		return sdk.PermanentError(err, "", host+"'s certificate is expired or not yet valid: check this host's clock.")
	case errors.As(err, &netErr):
		return sdk.TemporaryError(err, "", "Cannot reach "+host+": check graph_endpoint, DNS and the firewall (or proxy); Tocsin retries meanwhile.")
	default:
		return sdk.TemporaryError(err, "", "")
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
