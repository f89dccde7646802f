package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// TestCredentialFact_Value: days_left counts whole days rounded down,
// negative once the credential has expired, and every unknown is null.
func TestCredentialFact_Value(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	exp := time.Date(2026, 12, 12, 10, 0, 0, 0, time.UTC) // 7 days after now
	for _, tt := range []struct {
		name    string
		fact    CredentialFact
		at      time.Time
		days    any // int, or nil for null
		expires any // string, or nil for null
		source  any
	}{
		{name: "seven days exactly", fact: CredentialFact{Expires: exp, Source: CredentialCertificate}, at: now, days: 7, expires: "2026-12-12T10:00:00Z", source: "certificate"},
		{name: "a second less is six", fact: CredentialFact{Expires: exp, Source: CredentialSecret}, at: now.Add(time.Second), days: 6, expires: "2026-12-12T10:00:00Z", source: "client_secret_expires"},
		{name: "at expiry", fact: CredentialFact{Expires: exp}, at: exp, days: 0, expires: "2026-12-12T10:00:00Z"},
		{name: "an hour after is -1", fact: CredentialFact{Expires: exp}, at: exp.Add(time.Hour), days: -1, expires: "2026-12-12T10:00:00Z"},
		{name: "a day after is -1", fact: CredentialFact{Expires: exp}, at: exp.Add(24 * time.Hour), days: -1, expires: "2026-12-12T10:00:00Z"},
		{name: "a login without expiry", fact: CredentialFact{Source: CredentialLogin, ObtainedAt: now}, at: now, source: "login"},
		{name: "nothing known", at: now},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.fact.Value(tt.at)
			if !v.Type().Equals(CredentialType) {
				t.Fatalf("type %s, want %s", v.Type().FriendlyName(), CredentialType.FriendlyName())
			}
			check := func(attr string, want any) {
				t.Helper()
				got := v.GetAttr(attr)
				switch w := want.(type) {
				case nil:
					if !got.IsNull() {
						t.Errorf("%s = %#v, want null", attr, got)
					}
				case int:
					if got.IsNull() || !got.RawEquals(cty.NumberIntVal(int64(w))) {
						t.Errorf("%s = %#v, want %d", attr, got, w)
					}
				case string:
					if got.IsNull() || got.AsString() != w {
						t.Errorf("%s = %#v, want %q", attr, got, w)
					}
				}
			}
			check("days_left", tt.days)
			check("expires", tt.expires)
			check("source", tt.source)
			if tt.fact.ObtainedAt.IsZero() {
				check("obtained_at", nil)
			} else {
				check("obtained_at", tt.fact.ObtainedAt.Format(time.RFC3339))
			}
			check("refreshed_at", nil)
		})
	}
}

// TestCredentialsValue: the variable is a map of the facts by transport,
// an empty map of the same type when there are none.
func TestCredentialsValue(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if v := CredentialsValue(nil, now); !v.Type().Equals(CredentialsType) || v.LengthInt() != 0 {
		t.Errorf("no facts: %#v, want an empty map", v)
	}
	v := CredentialsValue(map[string]CredentialFact{"relay": {Expires: now.Add(31 * 24 * time.Hour)}, "graph": {}}, now)
	if !v.Type().Equals(CredentialsType) || v.LengthInt() != 2 {
		t.Fatalf("two facts: %#v", v)
	}
	if got := v.Index(cty.StringVal("relay")).GetAttr("days_left"); !got.RawEquals(cty.NumberIntVal(31)) {
		t.Errorf("relay days_left = %#v, want 31", got)
	}
}

// TestParseExpiry: a date is the start of its day in UTC; an RFC 3339
// time is kept; anything else is an error that says the format.
func TestParseExpiry(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "" for an error
	}{
		{in: "2028-06-30", want: "2028-06-30T00:00:00Z"},
		{in: " 2028-06-30 ", want: "2028-06-30T00:00:00Z"},
		{in: "2028-06-30T14:05:00Z", want: "2028-06-30T14:05:00Z"},
		{in: "2028-06-30T14:05:00+02:00", want: "2028-06-30T12:05:00Z"},
		{in: "30.06.2028"},
		{in: "2028-02-30"},
		{in: "6/30/2028"},
		{in: ""},
	} {
		got, err := ParseExpiry(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseExpiry(%q) = %s, want an error", tt.in, got)
		case tt.want == "" && !strings.Contains(err.Error(), "YYYY-MM-DD"):
			t.Errorf("ParseExpiry(%q): error %q does not say the format", tt.in, err)
		case tt.want != "" && err != nil:
			t.Errorf("ParseExpiry(%q): %v", tt.in, err)
		case tt.want != "" && got.Format(time.RFC3339) != tt.want:
			t.Errorf("ParseExpiry(%q) = %s, want %s", tt.in, got.Format(time.RFC3339), tt.want)
		}
	}
}
