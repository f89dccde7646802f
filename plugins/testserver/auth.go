package testserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SASL mechanism names offered when [Options.Users] is non-empty.
const (
	MechPlain   = "PLAIN"
	MechLogin   = "LOGIN"
	MechCRAMMD5 = "CRAM-MD5"
)

// AuthConn is what a SASL mechanism sees of the connection it authenticates.
// A mechanism constructor in [Options.Mechanisms] receives one per AUTH
// command; the mechanism calls [AuthConn.SetUser] once the client has proved
// who it is. An AuthConn is only valid during that AUTH exchange and is used
// from the connection's goroutine only.
type AuthConn struct {
	conn  int
	tls   bool
	users map[string]string

	user string
}

// Conn returns the 1-based number of the connection, as in [Received.Conn].
func (a *AuthConn) Conn() int { return a.conn }

// TLS reports whether the connection is TLS (implicit or after STARTTLS).
func (a *AuthConn) TLS() bool { return a.tls }

// Password returns the password configured for user in [Options.Users], for
// mechanisms such as CRAM-MD5 that need the shared secret.
func (a *AuthConn) Password(user string) (string, bool) {
	p, ok := a.users[user]
	return p, ok
}

// CheckPassword reports whether user is in [Options.Users] with exactly this
// password. The comparison does not leak the password's content through
// timing.
func (a *AuthConn) CheckPassword(user, password string) bool {
	want, ok := a.users[user]
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

// SetUser records user as the authenticated identity; it is reported in
// [Received.User] for the messages sent on this connection after the
// exchange succeeds. The identity only counts if the mechanism then finishes
// without an error.
func (a *AuthConn) SetUser(user string) { a.user = user }

// User returns the identity recorded by [AuthConn.SetUser], "" if none.
func (a *AuthConn) User() string { return a.user }

// errInvalidCredentials is the reply to failed authentication. go-smtp only
// uses the code of an error from sasl.Server.Next if its dynamic type is
// *smtp.SMTPError (it does not unwrap), otherwise it replies 454, so this
// must never be wrapped.
func errInvalidCredentials() *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         535,
		EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message:      "Authentication credentials invalid",
	}
}

func errAuthRequired() *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         530,
		EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message:      "Authentication required",
	}
}

// builtinMechanisms are the mechanisms offered when Options.Users is
// non-empty, in the order they are advertised.
var builtinMechanisms = []struct {
	name string
	new  func(c *AuthConn, domain string) sasl.Server
}{
	{MechPlain, newPlainServer},
	{MechLogin, func(c *AuthConn, _ string) sasl.Server { return &loginServer{ac: c} }},
	{MechCRAMMD5, func(c *AuthConn, domain string) sasl.Server { return &cramMD5Server{ac: c, domain: domain} }},
}

// newPlainServer is go-sasl's PLAIN server checking Options.Users. An
// authorization identity is accepted only if it is empty or equal to the
// user name.
func newPlainServer(c *AuthConn, _ string) sasl.Server {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errInvalidCredentials()
		}
		if !c.CheckPassword(username, password) {
			return errInvalidCredentials()
		}
		c.SetUser(username)
		return nil
	})
}

// loginServer is the server side of the (obsolete, but widely used) LOGIN
// mechanism, draft-murchison-sasl-login: the server asks "Username:" and
// "Password:"; a client may send the user name as the initial response.
type loginServer struct {
	ac    *AuthConn
	step  int
	user  string
	ended bool
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	if s.ended {
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
	switch s.step {
	case 0:
		if response == nil {
			s.step = 1
			return []byte("Username:"), false, nil
		}
		s.user = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 1:
		s.user = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	default:
		s.ended = true
		if !s.ac.CheckPassword(s.user, string(response)) {
			return nil, false, errInvalidCredentials()
		}
		s.ac.SetUser(s.user)
		return nil, true, nil
	}
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195): the server sends
// a unique challenge, the client answers "user hex(HMAC-MD5(password,
// challenge))".
type cramMD5Server struct {
	ac        *AuthConn
	domain    string
	challenge []byte
	ended     bool
}

func (s *cramMD5Server) Next(response []byte) ([]byte, bool, error) {
	if s.ended {
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
	if s.challenge == nil {
		if response != nil {
			s.ended = true
			return nil, false, &smtp.SMTPError{
				Code:         501,
				EnhancedCode: smtp.EnhancedCode{5, 5, 2},
				Message:      "CRAM-MD5 does not take an initial response",
			}
		}
		n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			s.ended = true
			return nil, false, fmt.Errorf("testserver: cram-md5 challenge: %w", err)
		}
		s.challenge = fmt.Appendf(nil, "<%d.%d@%s>", n, time.Now().UnixNano(), s.domain)
		return s.challenge, false, nil
	}
	s.ended = true
	i := bytes.LastIndexByte(response, ' ')
	if i < 0 {
		return nil, false, errInvalidCredentials()
	}
	user := string(response[:i])
	got, err := hex.DecodeString(string(response[i+1:]))
	if err != nil {
		return nil, false, errInvalidCredentials()
	}
	password, ok := s.ac.Password(user)
	if !ok {
		return nil, false, errInvalidCredentials()
	}
	mac := hmac.New(md5.New, []byte(password))
	mac.Write(s.challenge)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, false, errInvalidCredentials()
	}
	s.ac.SetUser(user)
	return nil, true, nil
}

// authServer wraps the mechanism chosen for one AUTH command. It normalises
// errors into the *smtp.SMTPError go-smtp needs to send a precise reply and
// records the outcome in the session when the exchange succeeds.
type authServer struct {
	inner sasl.Server
	ac    *AuthConn
	sess  *session
	mech  string
}

func (a *authServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := a.inner.Next(response)
	if err != nil {
		// go-smtp checks err.(*smtp.SMTPError) without unwrapping and
		// replies 454 to anything else; a failed exchange is a 535.
		var se *smtp.SMTPError
		if errors.As(err, &se) && se != nil {
			return nil, false, se
		}
		return nil, false, errInvalidCredentials()
	}
	if done {
		a.sess.authenticated(a.ac.user, a.mech)
	}
	return challenge, done, nil
}
