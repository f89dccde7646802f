package gmail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// apiError is an error reply of the Gmail API:
// {"error":{"code","message","status","errors":[{"domain","reason","message"}]}}.
type apiError struct {
	httpStatus int
	// code, status and message are the reply's error.code, error.status
	// (such as PERMISSION_DENIED) and error.message; reason is
	// error.errors[0].reason (such as insufficientPermissions).
	code    int
	status  string
	message string
	reason  string
	// retryAfter is the wait the Retry-After header asked for.
	retryAfter time.Duration
	// cut: the reply was longer than oauth.MaxReplyBytes; the rest was
	// not read.
	cut bool
}

// Error reads "gmail api: 403 PERMISSION_DENIED: Request had ...".
func (e *apiError) Error() string { return "gmail api: " + e.reply() }

// reply is the raw reply as the operator sees it: code, status, message.
func (e *apiError) reply() string {
	code := e.code
	if code == 0 {
		code = e.httpStatus
	}
	s := strconv.Itoa(code)
	if e.status != "" {
		s += " " + e.status
	}
	if e.message != "" {
		s += ": " + e.message
	}
	if e.cut {
		s += " " + oauth.CutNote
	}
	return s
}

// errorCode is the DeliveryError code: the reason, else the status, else
// the HTTP status.
func (e *apiError) errorCode() string {
	switch {
	case e.reason != "":
		return e.reason
	case e.status != "":
		return e.status
	default:
		return strconv.Itoa(e.httpStatus)
	}
}

// parseAPIError reads an error reply. A body that is not Google's error
// JSON (a proxy's page) leaves only the HTTP status; the body is not kept.
func parseAPIError(resp *http.Response, body []byte, now time.Time) *apiError {
	e := &apiError{httpStatus: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	var reply struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &reply) != nil || (reply.Error.Code == 0 && reply.Error.Status == "" && reply.Error.Message == "") {
		e.message = strings.TrimSpace(http.StatusText(resp.StatusCode) + " (not a Gmail API error reply)")
		return e
	}
	e.code, e.status, e.message = reply.Error.Code, reply.Error.Status, reply.Error.Message
	if len(reply.Error.Errors) > 0 {
		e.reason = reply.Error.Errors[0].Reason
	}
	return e
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Remedies for the Gmail API's replies.
const (
	remedyRateLimit = "Gmail's sending limits for this mailbox are reached; they can last hours (the daily limit resets within 24 hours). Tocsin retries after the wait Gmail asks for; if this recurs, send fewer alerts or spread them over more mailboxes."
	remedyAuth      = "Gmail rejected a freshly obtained access token; Tocsin retries. If this lasts, check that api_endpoint and the token_uri of the JSON file belong to the same Google service, and that the credential was not revoked."
	// insufficientPermissions.
	remedyScopeServiceAccount = "Authorize the scope gmail.send (" + ScopeSend + ", or " + ScopeFull + ") for the service account's client ID in the Google Admin console (Security > Access and data control > API controls > Domain-wide delegation), and keep that scope in scopes."
	remedyScopeClient         = "Run \"tocsin oauth login\" again and grant the scope gmail.send (" + ScopeSend + ", or " + ScopeFull + "), keeping it in scopes; or, for a service account, authorize it for the client ID in the Admin console's domain-wide delegation."
	// failedPrecondition.
	remedyPreconditionServiceAccount = "Set subject to the mailbox to send as (a service account has no mailbox of its own), and make sure Gmail is enabled for that user in the Google Admin console."
	remedyPreconditionClient         = "Make sure Gmail is enabled for the Google account that signed in with \"tocsin oauth login\" (Google Admin console > Apps > Google Workspace > Gmail); an account without Gmail cannot send."
	remedyDomainPolicy               = "The domain's administrator has disabled Gmail API access for this user or app: ask them to allow it in the Google Admin console (Security > Access and data control > API controls)."
	remedyForbidden                  = "Gmail refused to let this credential send as the mailbox; check the reply, the subject and the mailbox's Gmail settings."
	remedyNotFound                   = "Check api_endpoint: it must be the Gmail API's base URL, " + DefaultAPIEndpoint + " (the default)."
	remedyServer                     = "The Gmail API is having trouble; Tocsin retries later."
	remedyMessage                    = "Gmail refused this message as it is, and sending it again will fail the same way; the reply says why."
	remedyNetwork                    = "Tocsin could not reach the Gmail API, or it did not answer within timeout, and retries; if this lasts, check the network path (proxy, firewall, DNS) to api_endpoint, and raise timeout for large messages on a slow link."
	remedyCertificate                = "The Gmail API's certificate is not trusted: fix api_endpoint, or set ca_file to the CA that signs it (for a TLS-inspecting proxy)."
)

// classify turns an error from upload into a failure with a kind, code,
// raw reply and remedy. serviceAccount selects the remedies that depend on
// how the transport authenticates.
func classify(err error, serviceAccount bool) *failure {
	var ae *apiError
	if !errors.As(err, &ae) {
		var unknownCA x509.UnknownAuthorityError
		var verify *tls.CertificateVerificationError
		switch {
		case errors.Is(err, context.Canceled):
			// The agent gave up on this Send; it retries the messages.
			return &failure{err: sdk.TemporaryError(err, "", ""), batch: true}
		case errors.As(err, &unknownCA) || errors.As(err, &verify):
			return &failure{err: sdk.PermanentError(err, "", remedyCertificate), batch: true}
		}
		return &failure{err: sdk.TemporaryError(err, "", remedyNetwork), batch: true}
	}
	pick := func(sa, client string) string {
		if serviceAccount {
			return sa
		}
		return client
	}
	de := &sdk.DeliveryError{Kind: sdk.Permanent, Code: ae.errorCode(), Reply: ae.reply(), RetryAfter: ae.retryAfter, Err: err}
	f := &failure{err: de, batch: true}
	switch {
	case ae.httpStatus == http.StatusTooManyRequests || ae.reason == "rateLimitExceeded" || ae.reason == "userRateLimitExceeded":
		de.Kind, de.Remedy = sdk.Temporary, remedyRateLimit
	case ae.httpStatus == http.StatusUnauthorized:
		de.Kind, de.Remedy = sdk.Temporary, remedyAuth
	case ae.reason == "insufficientPermissions":
		de.Remedy = pick(remedyScopeServiceAccount, remedyScopeClient)
	case ae.reason == "failedPrecondition":
		de.Remedy = pick(remedyPreconditionServiceAccount, remedyPreconditionClient)
	case ae.reason == "domainPolicy":
		de.Remedy = remedyDomainPolicy
	case ae.httpStatus >= 500 || ae.httpStatus == http.StatusRequestTimeout:
		de.Kind, de.Remedy = sdk.Temporary, remedyServer
	case ae.httpStatus == http.StatusForbidden:
		de.Remedy = remedyForbidden
	case ae.httpStatus == http.StatusNotFound:
		de.Remedy = remedyNotFound
	default:
		// 400 invalidArgument, 413 uploadTooLarge and the like: this
		// message is at fault, the next one may go through.
		de.Remedy = remedyMessage
		f.batch = false
	}
	return f
}
