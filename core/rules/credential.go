package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// The sources of a credential's expiry, credential.NAME.source.
const (
	// CredentialCertificate: the NotAfter of the client certificate
	// (the PEM file the transport's client_certificate names).
	CredentialCertificate = "certificate"
	// CredentialSecret: the transport's client_secret_expires, copied
	// by the operator from the provider's portal.
	CredentialSecret = "client_secret_expires"
	// CredentialLogin: a login stored by `tocsin oauth login`, whose
	// expiry the provider does not tell.
	CredentialLogin = "login"
	// CredentialPlugin: what the transport's plugin reported.
	CredentialPlugin = "plugin"
)

// CredentialType is the type of each element of the variable credential,
// a map by transport name: what the agent knows of the lifetime of the
// transport's credential. expires, obtained_at and refreshed_at are
// RFC 3339 (null when unknown); days_left is the whole days from now to
// expires (negative once it has passed; null when unknown); source says
// where expires comes from (see [CredentialCertificate]); what names the
// credential for a person.
var CredentialType = cty.Object(map[string]cty.Type{
	"expires":      cty.String,
	"days_left":    cty.Number,
	"source":       cty.String,
	"what":         cty.String,
	"obtained_at":  cty.String,
	"refreshed_at": cty.String,
})

// CredentialsType is the type of the variable credential.
var CredentialsType = cty.Map(CredentialType)

// CredentialFact is what the agent knows of one transport's credential:
// the agent builds it from the transport's configuration, its plugin and
// its stored login, `tocsin rules test` from a test's timeline.
type CredentialFact struct {
	// Expires is when the credential stops working; zero when unknown.
	Expires time.Time
	// Source says where Expires comes from (CredentialCertificate, ...);
	// CredentialLogin for a stored login without a known expiry; "" when
	// nothing is known.
	Source string
	// What names the credential, such as "client certificate
	// /etc/tocsin/graph.pem (CN=tocsin)".
	What string
	// ObtainedAt and RefreshedAt are when the stored login was obtained
	// (`tocsin oauth login`) and last rotated; zero without a login.
	ObtainedAt, RefreshedAt time.Time
}

// DaysLeft is the whole days from now to f.Expires, rounded down
// (negative once it has passed), and false when the expiry is unknown.
func (f CredentialFact) DaysLeft(now time.Time) (int, bool) {
	if f.Expires.IsZero() {
		return 0, false
	}
	d := f.Expires.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // rounded down, also before zero
	}
	return days, true
}

// Value returns f at now as a value of [CredentialType].
func (f CredentialFact) Value(now time.Time) cty.Value {
	days := cty.NullVal(cty.Number)
	if n, ok := f.DaysLeft(now); ok {
		days = cty.NumberIntVal(int64(n))
	}
	return cty.ObjectVal(map[string]cty.Value{
		"expires":      timeOrNull(f.Expires),
		"days_left":    days,
		"source":       stringOrNull(f.Source),
		"what":         stringOrNull(f.What),
		"obtained_at":  timeOrNull(f.ObtainedAt),
		"refreshed_at": timeOrNull(f.RefreshedAt),
	})
}

// CredentialsValue returns the variable credential at now: facts by
// transport name, as a value of [CredentialsType].
func CredentialsValue(facts map[string]CredentialFact, now time.Time) cty.Value {
	if len(facts) == 0 {
		return cty.MapValEmpty(CredentialType)
	}
	m := make(map[string]cty.Value, len(facts))
	for name, f := range facts {
		m[name] = f.Value(now)
	}
	return cty.MapVal(m)
}

func timeOrNull(t time.Time) cty.Value {
	if t.IsZero() {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(t.UTC().Format(time.RFC3339))
}

func stringOrNull(s string) cty.Value {
	if s == "" {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(s)
}

// ExpiryFormat says in words what [ParseExpiry] accepts, for messages.
const ExpiryFormat = `a date, YYYY-MM-DD (such as "2028-06-30"), or an RFC 3339 time (such as "2028-06-30T14:05:00Z")`

// ParseExpiry parses when a credential expires: a date, YYYY-MM-DD,
// which means the start of that day in UTC (the earliest moment the
// portal's date may mean), or an RFC 3339 time.
func ParseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not %s", s, ExpiryFormat)
	}
	return t.UTC(), nil
}
