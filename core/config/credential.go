package config

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// decodeSecretExpires decodes a transport's client_secret_expires: when
// the client secret in its config block expires, as the provider's portal
// shows it (Microsoft Entra ID: App registrations, Certificates &
// secrets, Expires). It is a setting of the transport, not of its plugin,
// so that it works with every plugin: the agent makes it the transport's
// credential fact (credential.NAME.expires), which the library's
// credential_expiring rule reads.
func (f *fileDecoder) decodeSecretExpires(t *Transport, attrs hcl.Attributes) hcl.Diagnostics {
	attr, ok := attrs["client_secret_expires"]
	if !ok {
		return nil
	}
	v, diags := requiredString(attr, f.ctx)
	if diags.HasErrors() {
		return diags
	}
	when, err := rules.ParseExpiry(v)
	if err != nil {
		return hcl.Diagnostics{attrError(attr, "Invalid client_secret_expires",
			"client_secret_expires is when the client secret expires, as the provider's portal shows it: "+err.Error()+". A date alone means the start of that day in UTC.")}
	}
	t.ClientSecretExpires = when
	return nil
}
