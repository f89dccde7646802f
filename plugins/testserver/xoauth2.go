package testserver

import (
	"bytes"
	"errors"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// MechXOAUTH2 is the SASL mechanism name of [XOAUTH2], the key to use in
// [Options.Mechanisms].
const MechXOAUTH2 = "XOAUTH2"

// Style selects how an [XOAUTH2] server replies to a token it rejects: the
// two providers differ, and clients must cope with both.
type Style int

const (
	// StyleMicrosoft replies like smtp.office365.com: a rejected token
	// ends the exchange at once with
	// "535 5.7.3 Authentication unsuccessful".
	StyleMicrosoft Style = iota
	// StyleGoogle replies like smtp.gmail.com: a rejected token first
	// gets a 334 challenge whose payload is the JSON
	// {"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"};
	// the client must answer it (with an empty line), and then the
	// server replies
	// "535-5.7.8 Username and Password not accepted. ..." (enhanced code
	// 5.7.8 on both lines).
	StyleGoogle
)

// GoogleXOAUTH2Challenge is the JSON payload of the 334 challenge that a
// [StyleGoogle] server sends for a rejected token (before base64).
const GoogleXOAUTH2Challenge = `{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`

// XOAUTH2 returns a constructor for an XOAUTH2 SASL server, to be put in
// [Options.Mechanisms] under [MechXOAUTH2].
//
// The client's response (the initial response of "AUTH XOAUTH2 <base64>",
// or its answer to an empty 334 challenge when it sent no initial response)
// must be
//
//	"user=" + mailbox + "\x01auth=Bearer " + token + "\x01\x01"
//
// (go-smtp has already decoded the base64). A response that does not parse
// gets "501 5.5.2 Cannot Decode response". Otherwise validate is called with
// the mailbox and the token; it decides whether the token is good for that
// mailbox (the mailbox check is validate's job). On nil the mailbox is
// recorded with [AuthConn.SetUser] and the server replies 235. On an error
// the server replies in the given style (see [StyleMicrosoft],
// [StyleGoogle]), unless the error is or wraps an *smtp.SMTPError: that
// reply is then sent as is and at once, in either style, so a test can
// provoke replies such as "535 5.7.139 ..." or "534-5.7.9 ...".
//
// validate is called from connection goroutines, possibly concurrently.
func XOAUTH2(validate func(user, token string) error, style Style) func(*AuthConn) sasl.Server {
	return func(c *AuthConn) sasl.Server {
		return &xoauth2Server{ac: c, validate: validate, style: style}
	}
}

// ParseXOAUTH2 splits an XOAUTH2 client response,
// "user=" + mailbox + "\x01auth=Bearer " + token + "\x01\x01", into mailbox
// and token. The "Bearer" scheme is matched case-insensitively, as in RFC
// 6750; other key=value fields are ignored. Mailbox and token must be
// non-empty.
func ParseXOAUTH2(response []byte) (user, token string, err error) {
	if !bytes.HasSuffix(response, []byte("\x01\x01")) {
		return "", "", errors.New("testserver: XOAUTH2 response does not end in ^A^A")
	}
	var haveUser, haveAuth bool
	for _, f := range bytes.Split(response[:len(response)-2], []byte{1}) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			return "", "", errors.New("testserver: XOAUTH2 field without '='")
		}
		switch string(k) {
		case "user":
			user, haveUser = string(v), true
		case "auth":
			scheme, t, ok := bytes.Cut(v, []byte(" "))
			if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) {
				return "", "", errors.New("testserver: XOAUTH2 auth field is not a Bearer token")
			}
			token, haveAuth = string(t), true
		}
	}
	if !haveUser || user == "" {
		return "", "", errors.New("testserver: XOAUTH2 response has no user")
	}
	if !haveAuth || token == "" {
		return "", "", errors.New("testserver: XOAUTH2 response has no token")
	}
	return user, token, nil
}

type xoauth2State int

const (
	xoStart    xoauth2State = iota // nothing received yet
	xoAsked                        // sent the empty challenge for a missing initial response
	xoRejected                     // Google style: sent the error challenge, awaiting the empty answer
	xoEnded
)

type xoauth2Server struct {
	ac       *AuthConn
	validate func(user, token string) error
	style    Style
	state    xoauth2State
}

func (s *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case xoStart:
		if response == nil {
			// No initial response: RFC 4954 says send an empty
			// challenge ("334 ") and take the response from the
			// client's answer.
			s.state = xoAsked
			return []byte{}, false, nil
		}
		return s.check(response)
	case xoAsked:
		return s.check(response)
	case xoRejected:
		// Whatever the client answers (it should be empty), the
		// exchange has failed.
		s.state = xoEnded
		return nil, false, googleXOAUTH2Failure()
	default:
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
}

func (s *xoauth2Server) check(response []byte) ([]byte, bool, error) {
	user, token, err := ParseXOAUTH2(response)
	if err != nil {
		s.state = xoEnded
		return nil, false, &smtp.SMTPError{
			Code:         501,
			EnhancedCode: smtp.EnhancedCode{5, 5, 2},
			Message:      "Cannot Decode response",
		}
	}
	if err := s.validate(user, token); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se != nil {
			s.state = xoEnded
			return nil, false, se
		}
		if s.style == StyleGoogle {
			s.state = xoRejected
			return []byte(GoogleXOAUTH2Challenge), false, nil
		}
		s.state = xoEnded
		return nil, false, &smtp.SMTPError{
			Code:         535,
			EnhancedCode: smtp.EnhancedCode{5, 7, 3},
			Message:      "Authentication unsuccessful",
		}
	}
	s.state = xoEnded
	s.ac.SetUser(user)
	return nil, true, nil
}

// googleXOAUTH2Failure is Gmail's two-line reply after a rejected token:
//
//	535-5.7.8 Username and Password not accepted. For more information, go to
//	535 5.7.8  https://support.google.com/mail/?p=BadCredentials
//
// go-smtp writes the enhanced code only on the last line, so the first
// line carries it in its text.
func googleXOAUTH2Failure() *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         535,
		EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "5.7.8 Username and Password not accepted. For more information, go to\n" +
			" https://support.google.com/mail/?p=BadCredentials",
	}
}
