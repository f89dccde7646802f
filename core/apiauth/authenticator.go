package apiauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The errors of Authenticate. Neither says which part of a wrong
// credential was wrong.
var (
	// ErrNoCredential: the request carries no token and no client
	// certificate.
	ErrNoCredential = errors.New("no credential")
	// ErrBadCredential: the request carries a credential that matches none
	// of those configured.
	ErrBadCredential = errors.New("credential not accepted")
)

// Principal is who made a request: the name of the credential that matched
// and its role.
type Principal struct {
	// Name is the matching Credential's name.
	Name string
	// Role is the matching Credential's role.
	Role Role
}

// tokenEntry is a configured token: its SHA-256 and its principal.
type tokenEntry struct {
	sum [sha256.Size]byte
	p   Principal
}

// Authenticator checks requests against a fixed set of credentials. It is
// safe for concurrent use.
type Authenticator struct {
	tokens   []tokenEntry
	pins     []tokenEntry // client certificate fingerprints
	verified *Principal   // any client certificate verified by the client CA

	now    func() time.Time
	audit  hclog.Logger
	limits *limiter
}

// Option changes an Authenticator as NewAuthenticator builds it.
type Option func(*Authenticator) error

// WithAudit logs every request that passes Require(RoleAdmin, ...) to
// logger at Info: "admin request" with the credential's name, the method,
// the path (without the query) and the client's address. Never a secret.
func WithAudit(logger hclog.Logger) Option {
	return func(a *Authenticator) error {
		if logger == nil {
			return errors.New("audit logger is nil")
		}
		a.audit = logger
		return nil
	}
}

// WithClock sets the clock the failure limit reads (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(a *Authenticator) error {
		if now == nil {
			return errors.New("clock is nil")
		}
		a.now = now
		return nil
	}
}

// WithFailureLimit sets how many failed attempts (a credential that matches
// nothing) one client address may make within window before Require
// answers 429 to all its requests until the window ends. The default is
// DefaultMaxFailures per DefaultFailureWindow.
func WithFailureLimit(maxFailures int, window time.Duration) Option {
	return func(a *Authenticator) error {
		if maxFailures < 1 || window <= 0 {
			return fmt.Errorf("failure limit %d per %v: need at least 1 per a positive window", maxFailures, window)
		}
		a.limits.max, a.limits.window = maxFailures, window
		return nil
	}
}

// NewAuthenticator returns an Authenticator for creds. Two credentials with
// the same name, the same token or the same certificate fingerprint, more
// than one NewVerifiedClients credential, or a Credential not made by one
// of the constructors are errors. An empty creds is allowed: every request
// then fails with ErrNoCredential or ErrBadCredential.
func NewAuthenticator(creds []Credential, opts ...Option) (*Authenticator, error) {
	a := &Authenticator{now: time.Now, limits: newLimiter()}
	names := make(map[string]bool, len(creds))
	sums := make(map[[sha256.Size]byte]string, len(creds))
	for _, c := range creds {
		if c.kind == kindNone || !c.Role.valid() || c.Name == "" {
			return nil, fmt.Errorf("build authenticator: credential %q was not made by NewToken, NewTokenHash, NewCertPin or NewVerifiedClients", c.Name)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("build authenticator: two credentials are named %q: give each its own name", c.Name)
		}
		names[c.Name] = true
		p := Principal{Name: c.Name, Role: c.Role}
		switch c.kind {
		case kindToken, kindCertPin:
			if other, ok := sums[c.sum]; ok {
				what := "token"
				if c.kind == kindCertPin {
					what = "certificate fingerprint"
				}
				return nil, fmt.Errorf("build authenticator: credentials %q and %q have the same %s: give each its own", other, c.Name, what)
			}
			sums[c.sum] = c.Name
			if c.kind == kindToken {
				a.tokens = append(a.tokens, tokenEntry{sum: c.sum, p: p})
			} else {
				a.pins = append(a.pins, tokenEntry{sum: c.sum, p: p})
			}
		case kindVerified:
			if a.verified != nil {
				return nil, fmt.Errorf("build authenticator: credentials %q and %q both accept any verified client certificate: keep one, or pin certificates by fingerprint", a.verified.Name, c.Name)
			}
			a.verified = &p
		}
	}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, fmt.Errorf("build authenticator: %w", err)
		}
	}
	return a, nil
}

// Authenticate returns who made r. A token in the Authorization header
// (Bearer, or the password of Basic) decides alone when present; otherwise
// the TLS client certificate is checked, first against the pinned
// fingerprints, then against the client CA's verification. The error is
// ErrNoCredential when r carries neither, or wraps ErrBadCredential when
// what it carries matches nothing; it never holds the token.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return Principal{}, fmt.Errorf("%w: more than one Authorization header", ErrBadCredential)
		}
		token, err := tokenFrom(h[0])
		if err != nil {
			return Principal{}, err
		}
		sum := sha256.Sum256([]byte(token))
		if p, ok := match(a.tokens, sum); ok {
			return p, nil
		}
		return Principal{}, ErrBadCredential
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return Principal{}, ErrNoCredential
	}
	if p, ok := match(a.pins, sha256.Sum256(r.TLS.PeerCertificates[0].Raw)); ok {
		return p, nil
	}
	if a.verified != nil && len(r.TLS.VerifiedChains) > 0 {
		return *a.verified, nil
	}
	return Principal{}, fmt.Errorf("%w: the client certificate is neither pinned nor verified by the client CA", ErrBadCredential)
}

// tokenFrom returns the token of an Authorization header value: the
// credentials of Bearer, or the password of Basic.
func tokenFrom(h string) (string, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return "", fmt.Errorf("%w: the Bearer token is empty", ErrBadCredential)
		}
		return rest, nil
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("%w: the Basic credentials are not base64", ErrBadCredential)
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		clear(raw)
		if !ok || pass == "" {
			return "", fmt.Errorf("%w: the Basic credentials hold no password (send the token as the password)", ErrBadCredential)
		}
		return pass, nil
	default:
		return "", fmt.Errorf("%w: the Authorization scheme is neither Bearer nor Basic", ErrBadCredential)
	}
}

// match compares sum with every entry in constant time, without stopping
// at a match, so that timing tells neither whether nor which one matched.
func match(entries []tokenEntry, sum [sha256.Size]byte) (Principal, bool) {
	found := -1
	for i := range entries {
		eq := subtle.ConstantTimeCompare(entries[i].sum[:], sum[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Principal{}, false
	}
	return entries[found].p, true
}
