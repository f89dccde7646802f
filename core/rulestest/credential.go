package rulestest

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// credentialFields are the attributes of each transport's entry of
// credential = {...} in a facts block.
var credentialFields = []string{"expires", "source", "what", "obtained_at", "refreshed_at"}

// credentialSources are the values source may have.
var credentialSources = []string{rules.CredentialCertificate, rules.CredentialSecret, rules.CredentialLogin, rules.CredentialPlugin}

// bindCredential checks the credential value of facts block fb: a map of
// transport names to { expires, source, what, obtained_at, refreshed_at },
// the times as YYYY-MM-DD or RFC 3339. days_left is not given: it follows
// from expires and the time of each evaluation, as in the agent.
func bindCredential(fb *Facts) (map[string]rules.CredentialFact, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid credential fact",
			Detail:   fmt.Sprintf(format, args...) + ".",
			Subject:  fb.CredentialRange.Ptr(),
		})
	}
	byName, ok := fields(fb.Credential)
	if !ok {
		bad(`credential maps a transport to its credential, such as credential = { relay = { expires = "2026-02-01", source = "certificate" } }`)
		return nil, diags
	}
	out := map[string]rules.CredentialFact{}
	for _, name := range sortedKeys(byName) {
		where := "credential." + name
		attrs, ok := fields(byName[name])
		if !ok {
			bad(`%s: a credential is an object such as { expires = "2026-02-01", source = "client_secret_expires", what = "client secret" }`, where)
			continue
		}
		unknown(attrs, credentialFields, where, bad)
		var f rules.CredentialFact
		str := func(attr string) string {
			v, ok := attrs[attr]
			if !ok || v.IsNull() {
				return ""
			}
			if v.Type() != cty.String {
				bad("%s: %s must be a string", where, attr)
				return ""
			}
			return v.AsString()
		}
		when := func(attr string) time.Time {
			s := str(attr)
			if s == "" {
				return time.Time{}
			}
			t, err := rules.ParseExpiry(s)
			if err != nil {
				bad("%s: %s: %v", where, attr, err)
			}
			return t
		}
		f.Expires, f.ObtainedAt, f.RefreshedAt = when("expires"), when("obtained_at"), when("refreshed_at")
		f.What = str("what")
		f.Source = str("source")
		if f.Source != "" && !slices.Contains(credentialSources, f.Source) {
			bad("%s: source %q is not one of %q", where, f.Source, credentialSources)
		}
		out[name] = f
	}
	return out, diags
}
