package smtpsend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Remedy maps a server reply to what the operator should do. Every field
// that is set must match; the first matching remedy wins.
type Remedy struct {
	// Code is the SMTP reply code, such as "535"; empty matches any.
	Code string
	// Enhanced is the enhanced status code, such as "5.7.139", which also
	// matches codes under it ("5.7.1" matches "5.7.1.x" but not "5.7.139");
	// ending in a dot, such as "5.1.", it matches a whole class; empty
	// matches any.
	Enhanced string
	// Contains is a case-insensitive substring of the reply; empty matches any.
	Contains string
	// Kind overrides the kind the reply code implies; 0 keeps it.
	Kind sdk.Kind
	// Text is the remedy sentence.
	Text string
}

func (r Remedy) matches(code, enhanced, reply string) bool {
	return (r.Code == "" || r.Code == code) &&
		(r.Enhanced == "" || enhancedMatches(enhanced, r.Enhanced)) &&
		(r.Contains == "" || strings.Contains(strings.ToLower(reply), strings.ToLower(r.Contains)))
}

// enhancedMatches reports whether the enhanced status code got is want or
// lies under it, component by component: "5.7.1" matches "5.7.1" but not
// "5.7.139"; "5.1." matches every "5.1.x".
func enhancedMatches(got, want string) bool {
	if strings.HasSuffix(want, ".") {
		return strings.HasPrefix(got, want)
	}
	return got == want || strings.HasPrefix(got, want+".")
}

// GenericRemedies are the remedies for replies any SMTP server gives.
// Transports for a particular provider put theirs in front.
var GenericRemedies = []Remedy{
	{Code: "534", Enhanced: "5.7.9", Text: "The account has 2-step verification: create an app password and use it as password, or switch to the smtp-oauth-google or gmail transport."},
	{Code: "535", Text: "The server rejected the login: check username and password. Gmail accounts with 2-step verification need an app password; Microsoft 365 and Google have turned off password logins, use smtp-oauth-ms, graph, smtp-oauth-google or gmail there."},
	{Code: "530", Text: "The server requires a login before sending: set auth, username and password in the transport's config block."},
	{Code: "538", Text: "The server wants encryption before a login: set security = \"starttls\" or \"tls\"."},
	{Enhanced: "5.7.60", Text: "The login may not send as the From address: set the transport's from to the mailbox you log in with, or grant it Send As rights."},
	{Contains: "SendAsDenied", Text: "The login may not send as the From address: set the transport's from to the mailbox you log in with, or grant it Send As rights."},
	{Contains: "relay", Text: "The server refuses to relay mail from this host: allow the agent's address on the relay, or log in (set auth, username and password)."},
	{Enhanced: "5.1.", Text: "The server rejected an address: check the contact's email list and the transport's from."},
	{Code: "552", Text: "The message is larger than the server accepts: attach less (a shorter log tail) or raise the server's size limit."},
	{Code: "554", Text: "The server refused the message outright: its reply says why; a relay may need this host allowed or a login."},
}

var enhancedRE = regexp.MustCompile(`\b([245])\.\d{1,3}\.\d{1,3}\b`)

// classify turns a go-mail, SMTP, TLS or network error into an
// *sdk.DeliveryError with a remedy.
func (s *Sender) classify(err error) *sdk.DeliveryError {
	if err == nil {
		return nil
	}
	var de *sdk.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	code, enhanced, reply := replyOf(err)
	if code != 0 {
		kind := sdk.Permanent
		if code >= 400 && code < 500 {
			kind = sdk.Temporary
		}
		codeStr := strconv.Itoa(code)
		out := &sdk.DeliveryError{Kind: kind, Code: strings.TrimSpace(codeStr + " " + enhanced), Reply: reply, Err: err}
		for _, r := range append(append([]Remedy(nil), s.opts.Remedies...), GenericRemedies...) {
			if r.matches(codeStr, enhanced, reply) {
				out.Remedy = r.Text
				if r.Kind != 0 {
					out.Kind = r.Kind
				}
				break
			}
		}
		if out.Remedy == "" && kind == sdk.Temporary {
			out.Remedy = "The server is busy or not ready; Tocsin retries later. If this lasts, check the server's queue and logs."
		}
		return out
	}
	return s.classifyLocal(err)
}

// remedyTooLarge is the remedy of a reply cut at MaxReplyBytes.
var remedyTooLarge = fmt.Sprintf("The server's reply was too large (over %d KiB) and was cut: the server, or whatever answers on this port, is misbehaving; check its logs. Tocsin retries.", MaxReplyBytes>>10)

// classifyOn classifies err from the connection st: when a reply was cut
// at MaxReplyBytes, that is the cause, whatever error go-mail made of it.
func (s *Sender) classifyOn(st *connState, err error) *sdk.DeliveryError {
	if st.tooLarge() {
		// go-mail lists the cut once per command it tried after it;
		// say it once, with the command it happened in.
		var se *gomail.SendError
		if errors.As(err, &se) {
			err = fmt.Errorf("%s: %w", se.Reason, errReplyTooLarge)
		} else if !errors.Is(err, errReplyTooLarge) {
			err = fmt.Errorf("%w (%w)", errReplyTooLarge, err)
		}
		return sdk.TemporaryError(err, "", remedyTooLarge)
	}
	return s.classify(err)
}

// classifyLocal handles failures that are not a server reply.
func (s *Sender) classifyLocal(err error) *sdk.DeliveryError {
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
		netErr    net.Error
	)
	msg := err.Error()
	switch {
	case errors.Is(err, errReplyTooLarge):
		return sdk.TemporaryError(err, "", remedyTooLarge)
	case errors.Is(err, errImplicitTLS):
		return sdk.PermanentError(err, "", "The server on "+addr+" speaks TLS from the first byte (as on port 465): set security = \"tls\", or use the server's STARTTLS port (usually 587) with security = \"starttls\".")
	case errors.Is(err, errNoGreeting):
		return sdk.TemporaryError(err, "", "Something on "+addr+" accepts connections but says nothing, as no mail server does: check host and port; Tocsin retries meanwhile.")
	case errors.As(err, &unknownCA), strings.Contains(msg, "certificate signed by unknown authority"):
		return sdk.PermanentError(err, "", "The server's certificate is not signed by a CA this host trusts: set ca_file to the PEM file of the CA that signed it.")
	case errors.As(err, &hostname):
		return sdk.PermanentError(err, "", "The server's certificate is for another name: set host to a name the certificate lists.")
	case errors.As(err, &invalid):
		return sdk.PermanentError(err, "", "The server's certificate is expired, not yet valid or not for a server: renew it, and check this host's clock.")
	case errors.As(err, &recordErr), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return sdk.PermanentError(err, "", "The server does not speak TLS on "+addr+": use security = \"starttls\" (usually port 587 or 25), or security = \"tls\" only with port 465.")
	case strings.Contains(msg, "does not support STARTTLS"):
		return sdk.PermanentError(err, "", "The server offers no STARTTLS on "+addr+": use security = \"tls\" if it speaks TLS from the start (port 465), or ask for STARTTLS to be enabled.")
	case errors.Is(err, gomail.ErrPlainAuthNotSupported), errors.Is(err, gomail.ErrLoginAuthNotSupported), errors.Is(err, gomail.ErrCramMD5AuthNotSupported), errors.Is(err, gomail.ErrXOauth2AuthNotSupported):
		return sdk.PermanentError(err, "", "The server does not offer the login mechanism "+s.mechanism()+": pick an auth it lists in its EHLO reply.")
	case strings.Contains(msg, "does not support SMTP AUTH"):
		return sdk.PermanentError(err, "", "The server offers no login at all here (some offer AUTH only after STARTTLS): use security = \"starttls\" or \"tls\", or set auth = \"none\" for a relay that needs no login.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return sdk.TemporaryError(err, "", "The send ran out of time; Tocsin retries. If this lasts, raise the transport's timeout or check the server's load.")
	case errors.As(err, &netErr), strings.Contains(msg, "connection refused"), strings.Contains(msg, "EOF"), strings.Contains(msg, "broken pipe"), strings.Contains(msg, "connection reset"):
		return sdk.TemporaryError(err, "", "Cannot talk to "+addr+": check host, port and firewall; Tocsin retries meanwhile.")
	default:
		return sdk.TemporaryError(err, "", "")
	}
}

// replyOf extracts the SMTP reply code, enhanced status code and reply text
// from err, or 0 when err is not a server reply.
func replyOf(err error) (code int, enhanced, reply string) {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code, enhancedRE.FindString(tp.Msg), strings.TrimSpace(strconv.Itoa(tp.Code) + " " + tp.Msg)
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		// go-mail writes "<what it did>: <reply>[, <more errors>][,
		// affected recipient(s): …][, affected message ID: …]", where
		// <reply> is the server's *textproto.Error: the code, then the
		// text quoted (Go 1.26 and later). The quoted text is the reply
		// whole, even when it holds a comma or ", affected " itself.
		num := strconv.Itoa(se.ErrorCode())
		text := se.Error() // as go-mail wrote it, if the reply is not quoted
		if _, rest, ok := strings.Cut(text, num+" "); ok {
			if q, err := strconv.QuotedPrefix(rest); err == nil {
				if msg, err := strconv.Unquote(q); err == nil {
					text = num + " " + msg
				}
			}
		}
		enhanced := se.EnhancedStatusCode()
		if enhanced == "" {
			enhanced = enhancedRE.FindString(text)
		}
		return se.ErrorCode(), enhanced, text
	}
	return 0, "", ""
}

// mechanism names the login mechanism the way an operator writes it: go-mail's
// "PLAIN-NOENC" is PLAIN allowed without TLS.
func (s *Sender) mechanism() string {
	return strings.TrimSuffix(string(s.opts.Auth), "-NOENC")
}
