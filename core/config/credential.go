package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

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

// CertificateSetting is the setting of a transport's config block that
// names its client certificate, a PEM file, in the bundled plugins that
// sign in with one (graph, smtp-oauth-ms). The agent reads the
// certificate's NotAfter from it, whatever the plugin.
const CertificateSetting = "client_certificate"

// CertificateFile returns the PEM file the transport's config block names
// in client_certificate, as written (the plugin reads the same path), or
// "" when the block sets none or its value is not a plain string.
func (t *Transport) CertificateFile() string {
	body, ok := t.body.(*hclsyntax.Body)
	if !ok {
		return ""
	}
	attr, ok := body.Attributes[CertificateSetting]
	if !ok {
		return ""
	}
	v, diags := attr.Expr.Value(t.ctx)
	if diags.HasErrors() || v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String {
		return ""
	}
	return strings.TrimSpace(v.AsString())
}
