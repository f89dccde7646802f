package tokenstore

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Entry is what is stored for one transport.
//
// RefreshToken is the secret. It is left out of the JSON encoding of an
// Entry, and fmt and slog print it as "[redacted]": only the Store's
// encrypted files hold it.
type Entry struct {
	// Transport is the name of the transport in the configuration: ASCII
	// letters, digits, '-' and '_'.
	Transport string
	// RefreshToken is the refresh token (secret).
	RefreshToken string `json:"-"`
	// Account is the mailbox or user the token acts for, if known.
	Account string
	// Scopes are the scopes the token was granted or requested with.
	Scopes []string
	// TokenURL is the token endpoint it was obtained from (for status).
	TokenURL string
	// ObtainedAt is when tocsin oauth login stored it.
	ObtainedAt time.Time
	// RefreshedAt is when it was last replaced by a rotation (zero if
	// never).
	RefreshedAt time.Time
}

// Status returns e without the secret.
func (e Entry) Status() Status {
	return Status{
		Transport:   e.Transport,
		Account:     e.Account,
		Scopes:      slices.Clone(e.Scopes),
		TokenURL:    e.TokenURL,
		ObtainedAt:  e.ObtainedAt,
		RefreshedAt: e.RefreshedAt,
	}
}

// Format prints e as fmt prints a struct, with verb and flags, except that
// a non-empty RefreshToken prints as "[redacted]".
func (e Entry) Format(f fmt.State, verb rune) {
	type entry Entry // the same fields without this method
	r := entry(e)
	if r.RefreshToken != "" {
		r.RefreshToken = "[redacted]"
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), r)
}

// LogValue logs e without its RefreshToken.
func (e Entry) LogValue() slog.Value { return e.Status().LogValue() }

// Status is an Entry without the secret, for `tocsin oauth status` and
// /v1/status.
type Status struct {
	// Transport is the name of the transport.
	Transport string `json:"transport"`
	// Account is the mailbox or user the token acts for, if known.
	Account string `json:"account,omitempty"`
	// Scopes are the scopes of the token.
	Scopes []string `json:"scopes,omitempty"`
	// TokenURL is the token endpoint the token was obtained from.
	TokenURL string `json:"token_url,omitempty"`
	// ObtainedAt is when tocsin oauth login stored the token.
	ObtainedAt time.Time `json:"obtained_at,omitzero"`
	// RefreshedAt is when a rotation last replaced the token (zero if
	// never).
	RefreshedAt time.Time `json:"refreshed_at,omitzero"`
}

// LogValue logs the fields of s that are set.
func (s Status) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("transport", s.Transport)}
	if s.Account != "" {
		attrs = append(attrs, slog.String("account", s.Account))
	}
	if len(s.Scopes) > 0 {
		attrs = append(attrs, slog.Any("scopes", s.Scopes))
	}
	if s.TokenURL != "" {
		attrs = append(attrs, slog.String("token_url", s.TokenURL))
	}
	if !s.ObtainedAt.IsZero() {
		attrs = append(attrs, slog.Time("obtained_at", s.ObtainedAt))
	}
	if !s.RefreshedAt.IsZero() {
		attrs = append(attrs, slog.Time("refreshed_at", s.RefreshedAt))
	}
	return slog.GroupValue(attrs...)
}

// record is the plaintext that a token file encrypts: the JSON encoding
// of an Entry, secret included.
type record struct {
	Transport    string    `json:"transport"`
	RefreshToken string    `json:"refresh_token"`
	Account      string    `json:"account,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	TokenURL     string    `json:"token_url,omitempty"`
	ObtainedAt   time.Time `json:"obtained_at,omitzero"`
	RefreshedAt  time.Time `json:"refreshed_at,omitzero"`
}

// toRecord returns the record of e, times in UTC.
func toRecord(e Entry) record {
	return record{
		Transport:    e.Transport,
		RefreshToken: e.RefreshToken,
		Account:      e.Account,
		Scopes:       e.Scopes,
		TokenURL:     e.TokenURL,
		ObtainedAt:   utc(e.ObtainedAt),
		RefreshedAt:  utc(e.RefreshedAt),
	}
}

// entry returns the Entry of r.
func (r record) entry() Entry {
	return Entry(r)
}

// utc returns t in UTC without its monotonic reading; the zero time stays
// zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// maxNameLen bounds a transport name, so that its file names (including
// the temporary ones) stay within the 255 bytes file systems allow.
const maxNameLen = 128

// ErrInvalidTransport is returned (wrapped) for a transport name that
// cannot name a token file.
var ErrInvalidTransport = errors.New("invalid transport name")

// checkTransport returns an error wrapping ErrInvalidTransport unless name
// is 1 to 128 ASCII letters, digits, '-' and '_'. That excludes path
// separators, dots and so "..".
func checkTransport(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTransport)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrInvalidTransport, name[:16]+"...", maxNameLen)
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("%w %q: use only ASCII letters, digits, '-' and '_'", ErrInvalidTransport, name)
		}
	}
	return nil
}
