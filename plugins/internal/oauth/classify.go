package oauth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedies of token endpoint errors that need no explanation beyond the
// table entry.
const (
	remedyLoginAgain   = `The refresh token has expired or was revoked (password change, sign-out, admin action, or months unused): run "tocsin oauth login" for this transport again.`
	remedyAssertion    = "Microsoft rejected the certificate assertion: upload the certificate (its public .cer/.pem) to the app registration under Certificates & secrets, and check that client_key is that certificate's private key."
	remedyScopeMS      = "The scope is not valid for this app: app-only mode needs a resource's /.default scope (such as https://outlook.office365.com/.default), delegated mode needs the delegated permission (such as SMTP.Send) added to the app registration."
	remedyTokenGeneric = "The token endpoint refused the request: its reply says why; check the transport's OAuth settings against the app registration or client."
)

// msRemedies maps AADSTS codes to remedies. All are permanent: nothing
// changes until the operator acts.
var msRemedies = map[int]string{
	7000215: "The client secret is wrong: put the secret's Value (shown once, when it is created) in client_secret, not its Secret ID.",
	7000222: "The client secret has expired: create a new one under the app registration's Certificates & secrets and put its Value in client_secret.",
	700016:  "Entra ID knows no app with this client_id in this tenant: check client_id and tenant_id, and have an admin of this tenant grant consent to the app (multi-tenant apps).",
	90002:   "The tenant was not found: check tenant_id (the Directory (tenant) ID or a verified domain), and for a national cloud set authority (such as https://login.microsoftonline.us).",
	65001:   "Consent is missing: in the app registration's API permissions, add the permission the transport uses (SMTP.SendAsApp or SMTP.Send of Office 365 Exchange Online, or Mail.Send of Microsoft Graph) and click Grant admin consent.",
	530035:  "The sign-in is blocked by the tenant's security defaults: an admin must turn security defaults off in favour of Conditional Access policies, or use app-only mode (client credentials) instead of a delegated login.",
	53003:   "The sign-in is blocked by a Conditional Access policy: an admin must exclude this app or account from the policy, or use app-only mode.",
	70011:   remedyScopeMS,
	1002012: remedyScopeMS,
	7000218: "The app is confidential and the request had no credential: set client_secret or client_certificate, or enable Allow public client flows in the app registration's Authentication page for a delegated login without a secret.",
	700027:  remedyAssertion,
	700212:  "The certificate assertion has the wrong audience: check tenant_id and authority (the assertion is made for their token URL).",
	700021:  "The certificate assertion names the wrong app: check client_id, and that the certificate was uploaded to that app registration.",
	700024:  "The certificate assertion is outside its valid time: check this host's clock (NTP).",
	50027:   remedyAssertion,
	70008:   remedyLoginAgain,
	700082:  remedyLoginAgain,
	50173:   remedyLoginAgain,
	70000:   remedyLoginAgain,
	70043:   remedyLoginAgain,
	50076:   `The tenant now requires multi-factor authentication for this sign-in: run "tocsin oauth login" for this transport again.`,
	50079:   `The tenant now requires multi-factor authentication for this sign-in: run "tocsin oauth login" for this transport again.`,
	50057:   "The user account is disabled: an admin must enable it, or use another mailbox.",
	7000112: "The app is disabled in this tenant: an admin must enable it under Enterprise applications (Properties, Enabled for users to sign-in).",
	900144:  "The token request lacks a required parameter (the reply names it): check tenant_id and client_id; if they are set, report it as a Tocsin bug.",
	70003:   "The app may not use this grant type: check the mode setting against the app registration (app-only or delegated).",
	70020:   `The device code expired before the sign-in finished: run "tocsin oauth login -device" again and complete it within 15 minutes.`,
	50011:   "The redirect URI is not registered: add http://localhost under Mobile and desktop applications in the app registration's Authentication page.",
	50148:   `The authorization code was redeemed with another redirect URI: run "tocsin oauth login" again.`,
	501481:  `The PKCE verifier did not match: run "tocsin oauth login" again.`,
}

// googleRemedies maps Google OAuth error codes to remedies. Where the
// description tells causes apart, googleInvalidGrant decides.
var googleRemedies = map[string]string{
	"unauthorized_client":    "The client is not allowed to get this token: for a service account, a Google Workspace super admin must add its client ID with exactly these scopes under Admin console > Security > Access and data control > API controls > Domain-wide delegation (changes can take up to 24 hours), and subject must be a user of that domain.",
	"invalid_client":         "The OAuth client is unknown or its secret is wrong: download the client's JSON again from Google Cloud console, APIs & Services > Credentials (the client may have been deleted or its secret reset).",
	"invalid_scope":          `A scope is not valid or not granted: use https://mail.google.com/ for SMTP or https://www.googleapis.com/auth/gmail.send for the Gmail API; a refresh token only covers the scopes consented at login, so run "tocsin oauth login" again after changing them.`,
	"access_denied":          "Access was denied: the user or a Workspace admin refused consent, or the OAuth consent screen does not allow this account (add it as a test user, or publish the app).",
	"admin_policy_enforced":  "A Google Workspace admin policy blocks this app: an admin must trust the app's client ID under Admin console > Security > Access and data control > API controls.",
	"org_internal":           "The OAuth client is internal to another Google Workspace organisation: use a client from the mailbox's own organisation.",
	"invalid_request":        remedyTokenGeneric,
	"unsupported_grant_type": remedyTokenGeneric,
}

// googleInvalidGrant tells Google's invalid_grant causes apart by their
// description.
var googleInvalidGrant = []struct{ contains, remedy string }{
	{"expired or revoked", `The refresh token has expired or was revoked (password change, revoked access, six months unused, or seven days for an app whose consent screen is in Testing): run "tocsin oauth login" for this transport again.`},
	{"signature", "Google rejected the service account key's signature: the key was deleted or disabled; create a new key (IAM & Admin > Service accounts > Keys) and point service_account_file at the new JSON file."},
	{"account not found", "Google does not know this service account: it was deleted or its key file belongs to another project; create a new service account key."},
	{"audience", "The key file's token_uri is not the token endpoint that answered: download the key file again and do not edit it."},
	{"iat and exp", "Google rejected the assertion's time: check this host's clock (NTP)."},
	{"code verifier", `The PKCE verifier did not match: run "tocsin oauth login" again.`},
}

// temporaryOAuthErrors are RFC 6749 error codes that may go away by
// themselves.
var temporaryOAuthErrors = map[string]bool{
	"temporarily_unavailable": true,
	"server_error":            true,
	"internal_failure":        true,
	"slow_down":               true,
	"authorization_pending":   true,
}

var aadstsRE = regexp.MustCompile(`\bAADSTS(\d+)\b`)

// Classify turns an error from a Fetcher or a Cache into an
// *sdk.DeliveryError with Kind, Code, Reply and a Remedy an operator can
// act on. The original error stays in Err, so errors.As still finds an
// *oauth2.RetrieveError.
//
// A token endpoint error (*oauth2.RetrieveError) becomes:
//   - for Microsoft (error_codes or "AADSTSnnnn" in the description):
//     Code "AADSTS<n>";
//   - otherwise (Google and the rest): Code = the OAuth error code;
//   - Reply: the error code and description as the provider sent them;
//   - Kind: Temporary for HTTP 408, 429 and 5xx (with RetryAfter from a
//     Retry-After header) and for temporarily_unavailable and
//     server_error; Permanent for every other refusal.
//
// Network errors and timeouts are Temporary; an existing *sdk.DeliveryError
// is returned as it is; other errors become Temporary. None of the fields
// holds a secret: token endpoints do not echo credentials.
func Classify(err error) *sdk.DeliveryError {
	if err == nil {
		return nil
	}
	var de *sdk.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, ErrReplyTooLarge) {
		return sdk.TemporaryError(err, "", RemedyTooLarge)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return classifyRetrieve(err, re)
	}
	return classifyOther(err)
}

func classifyRetrieve(err error, re *oauth2.RetrieveError) *sdk.DeliveryError {
	code, desc := re.ErrorCode, re.ErrorDescription
	bodyCode, bodyDesc, aadCodes := parseErrorBody(re.Body)
	if code == "" {
		code, desc = bodyCode, bodyDesc
	}
	status := 0
	var header http.Header
	if re.Response != nil {
		status, header = re.Response.StatusCode, re.Response.Header
	}
	out := &sdk.DeliveryError{Kind: sdk.Permanent, Err: err}
	switch {
	case code != "" && desc != "":
		out.Reply = code + ": " + desc
	case code != "":
		out.Reply = code
	case status != 0:
		out.Reply = "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
	}

	if status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 || temporaryOAuthErrors[code] {
		out.Kind = sdk.Temporary
		out.RetryAfter = retryAfter(header, time.Now())
		out.Code = code
		if out.Code == "" {
			out.Code = "HTTP " + strconv.Itoa(status)
		}
		if status == http.StatusTooManyRequests {
			out.Remedy = "The token endpoint is throttling requests: Tocsin retries after the wait; if it persists, check that nothing else floods the endpoint with this app's credentials."
		} else {
			out.Remedy = "The token endpoint is failing: Tocsin retries; if it persists, check the provider's service status."
		}
		return out
	}

	aad := 0
	if len(aadCodes) > 0 {
		aad = aadCodes[0]
	} else if m := aadstsRE.FindStringSubmatch(desc); m != nil {
		aad, _ = strconv.Atoi(m[1])
	}
	if aad != 0 {
		out.Code = "AADSTS" + strconv.Itoa(aad)
		out.Remedy = msRemedies[aad]
		if out.Remedy == "" && code == "invalid_grant" {
			out.Remedy = remedyLoginAgain
		}
		if out.Remedy == "" {
			out.Remedy = fmt.Sprintf("Microsoft refused the token request: look up %s at https://login.microsoftonline.com/error?code=%d and fix the app registration or the transport's settings.", out.Code, aad)
		}
		return out
	}

	out.Code = code
	if out.Code == "" && status != 0 {
		out.Code = "HTTP " + strconv.Itoa(status)
	}
	switch {
	case code == "invalid_grant":
		out.Remedy = remedyLoginAgain
		d := strings.ToLower(desc)
		for _, g := range googleInvalidGrant {
			if strings.Contains(d, g.contains) {
				out.Remedy = g.remedy
				break
			}
		}
	case googleRemedies[code] != "":
		out.Remedy = googleRemedies[code]
	default:
		out.Remedy = remedyTokenGeneric
	}
	return out
}

// classifyOther classifies an error that is not the token endpoint's
// answer: the endpoint could not be reached or spoke no OAuth.
func classifyOther(err error) *sdk.DeliveryError {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		dnsErr           *net.DNSError
		opErr            *net.OpError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return sdk.TemporaryError(err, "", "The token request was cancelled (the agent is stopping or the send timed out); Tocsin retries.")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return sdk.TemporaryError(err, "", "The token endpoint did not answer in time: check this host's network, firewall and proxy (HTTPS_PROXY) towards the authority; Tocsin retries.")
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalidCert):
		return sdk.TemporaryError(err, "", "The token endpoint's TLS certificate is not trusted: if a proxy inspects TLS, put its CA certificate in the file named by ca_file; check authority for a typo.")
	case errors.As(err, &dnsErr):
		return sdk.TemporaryError(err, "", "The token endpoint's host name does not resolve: check authority (or the key file's token_uri) and this host's DNS; Tocsin retries.")
	case errors.As(err, &opErr):
		return sdk.TemporaryError(err, "", "The token endpoint cannot be reached: check this host's network, firewall and proxy (HTTPS_PROXY) towards the authority; Tocsin retries.")
	}
	return sdk.TemporaryError(err, "", "")
}

// isTimeout reports whether err says it is a timeout (net.Error).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// parseErrorBody reads an OAuth error body: error, error_description and,
// from Microsoft, error_codes. Anything else gives zero values.
func parseErrorBody(b []byte) (code, desc string, codes []int) {
	var v struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
		ErrorCodes       []int           `json:"error_codes"`
	}
	if len(b) == 0 || json.Unmarshal(b, &v) != nil {
		return "", "", nil
	}
	if json.Unmarshal(v.Error, &code) != nil { // not a string: not an OAuth error
		return "", "", nil
	}
	return code, v.ErrorDescription, v.ErrorCodes
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 if
// there is none or it cannot be read.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// maxErrorText bounds the text a fetch error shows of the provider's reply.
const maxErrorText = 600

// fetchError is a failed fetch: what was being done and why, on one line
// (x/oauth2 puts a non-JSON reply body on a second line).
type fetchError struct {
	op  string
	err error
	// cut: the reply was cut at MaxReplyBytes. x/oauth2 formats the read
	// error with %v, so errors.Is cannot see it in err.
	cut bool
}

func (e *fetchError) Error() string {
	s := strings.Join(strings.Fields(e.err.Error()), " ")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "") + "..."
	}
	return e.op + ": " + s
}

func (e *fetchError) Unwrap() []error {
	if e.cut {
		return []error{e.err, ErrReplyTooLarge}
	}
	return []error{e.err}
}

// wrapFetch returns err as a fetchError for op ("get token for ...").
func wrapFetch(op string, err error) error {
	return &fetchError{op: op, err: err, cut: errors.Is(err, ErrReplyTooLarge) || strings.Contains(err.Error(), ErrReplyTooLarge.Error())}
}
