package config

import (
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// Credential is a credential block: a caller of the agent's API and its
// role. Exactly one of its ways in is set.
type Credential struct {
	// Name names the caller in logs (never the secret).
	Name string
	// Role is what the caller may do.
	Role apiauth.Role
	// TokenFile is a file (absolute) holding the caller's token, 0600.
	TokenFile string
	// TokenEnv names an environment variable holding the token.
	TokenEnv string
	// TokenSHA256 is the hex SHA-256 of the token: the agent keeps no
	// secret at all.
	TokenSHA256 string
	// Fingerprint pins the caller's TLS client certificate (the output of
	// `tocsin identity` on the caller).
	Fingerprint string
	// VerifiedClient accepts any client certificate that the listener's
	// tls_client_ca_file verifies.
	VerifiedClient bool
	// DeclRange is the range of the block's label.
	DeclRange hcl.Range
}

var credentialSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "role", Required: true},
		{Name: "token_file"},
		{Name: "token_env"},
		{Name: "token_sha256"},
		{Name: "fingerprint"},
		{Name: "verified_client"},
	},
}

// credentialWays are the arguments of a credential block of which exactly
// one is set.
var credentialWays = []string{"token_file", "token_env", "token_sha256", "fingerprint", "verified_client"}

func (f *fileDecoder) decodeCredential(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	c := &Credential{Name: name, DeclRange: labelRange}
	diags := checkLabel("credential", name, labelRange)
	for _, prev := range f.l.cfg.Credentials {
		if prev.Name == name {
			diags = append(diags, duplicateName("credential", name, prev.DeclRange, labelRange, block))
		}
	}
	if name == apiauth.LocalCredentialName {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reserved credential name",
			Detail:  fmt.Sprintf("The credential name %q is the agent's own, for the tocsin command on this host (data_dir/%s); choose another.", name, apiauth.LocalTokenName),
			Subject: labelRange.Ptr()})
	}
	content, d := block.Body.Content(credentialSchema)
	diags = append(diags, d...)
	a := content.Attributes
	if attr, ok := a["role"]; ok {
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			role, err := apiauth.ParseRole(s)
			if err != nil {
				diags = append(diags, attrError(attr, "Invalid role", err.Error()+": read for monitoring (metrics, status without secrets), peer for the partner node, admin for the outbox and anything that changes state."))
			}
			c.Role = role
		}
	}
	var set []string
	for _, w := range credentialWays {
		if _, ok := a[w]; ok {
			set = append(set, w)
		}
	}
	if len(set) != 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid credential",
			Detail:  fmt.Sprintf("Credential %q sets %s; set exactly one of %s.", name, describeSet(set), strings.Join(credentialWays, ", ")),
			Subject: block.DefRange.Ptr()})
	}
	str := func(attr *hcl.Attribute) (string, bool) {
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		return s, !d.HasErrors()
	}
	if attr, ok := a["token_file"]; ok {
		if s, ok := str(attr); ok {
			c.TokenFile = f.path(s)
			if secret, err := apiauth.ReadSecretFile(c.TokenFile); err != nil {
				diags = append(diags, attrError(attr, "Unusable token file", err.Error()+"."))
			} else if _, err := apiauth.NewToken(name, apiauth.RoleRead, secret); err != nil {
				// The agent would refuse it at start.
				diags = append(diags, attrError(attr, "Unusable token file", fmt.Sprintf("The agent refuses the token in %s: %v.", c.TokenFile, err)))
			}
		}
	}
	if attr, ok := a["token_env"]; ok {
		if s, ok := str(attr); ok {
			c.TokenEnv = s
			if !validEnvName(s) {
				diags = append(diags, attrError(attr, "Invalid environment variable name", fmt.Sprintf("token_env names the environment variable that holds the token; %q is not a valid name.", s)))
			} else if v, set := f.l.lookupEnv(s); !set || v == "" {
				diags = append(diags, attrError(attr, "Token variable not set", fmt.Sprintf("The environment variable %s is not set (or empty) for this process: set it in the service's environment, or use token_file.", s)))
			} else if _, err := apiauth.NewToken(name, apiauth.RoleRead, v); err != nil {
				diags = append(diags, attrError(attr, "Unusable token variable", fmt.Sprintf("The agent refuses the token in the environment variable %s: %v.", s, err)))
			}
		}
	}
	if attr, ok := a["token_sha256"]; ok {
		if s, ok := str(attr); ok {
			c.TokenSHA256 = strings.ToLower(strings.TrimSpace(s))
			if _, err := apiauth.NewTokenHash(name, apiauth.RoleRead, c.TokenSHA256); err != nil {
				diags = append(diags, attrError(attr, "Invalid token hash", err.Error()+"."))
			}
		}
	}
	if attr, ok := a["fingerprint"]; ok {
		var d hcl.Diagnostics
		c.Fingerprint, d = f.fingerprint(attr, "`tocsin identity` on the caller prints it")
		diags = append(diags, d...)
	}
	if attr, ok := a["verified_client"]; ok {
		v, d := attrValue(attr, f.ctx, cty.Bool)
		diags = append(diags, d...)
		c.VerifiedClient = !d.HasErrors() && !v.IsNull() && v.True()
		if !d.HasErrors() && !c.VerifiedClient {
			diags = append(diags, attrError(attr, "Invalid credential", fmt.Sprintf("Credential %q sets verified_client but not to true: it lets no one in. Set verified_client = true (with tls_client_ca_file in the agent block) to accept the client certificates that CA verifies, or use one of token_file, token_env, token_sha256, fingerprint.", name)))
		}
	}
	if !diags.HasErrors() {
		f.l.cfg.Credentials = append(f.l.cfg.Credentials, c)
	}
	return diags
}

// describeSet names the arguments set, for an error.
func describeSet(set []string) string {
	if len(set) == 0 {
		return "none of them"
	}
	return strings.Join(set, " and ")
}

// loopbackListen reports whether listen (host:port) binds only loopback
// addresses: 127.0.0.0/8, ::1 or localhost. An unspecified host binds
// every address.
func loopbackListen(listen string) bool {
	if listen == "" {
		listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(listen)
	return err == nil && facts.LoopbackHost(host)
}

// checkSecurity finishes the security settings once every file is
// loaded: it gives each peer check this agent's identity to present, and
// collects the problems that open the API or the peer link to others into
// cfg.Insecure (warnings here; `tocsin validate` reports them as errors).
// Problems an explicit insecure setting accepts are plain warnings.
func (l *loader) checkSecurity() hcl.Diagnostics {
	cfg := l.cfg
	var diags hcl.Diagnostics
	for _, p := range cfg.Peers {
		ps := p.Spec.Peer
		if ps == nil {
			continue
		}
		ps.ClientCertFile, ps.ClientKeyFile = cfg.Agent.TLSCertFile, cfg.Agent.TLSKeyFile
		if ps.ClientCertFile == "" {
			ps.IdentityDir = cfg.Agent.DataDir
		}
		risk := ps.LinkRisk()
		switch {
		case risk == nil:
		case !ps.Insecure:
			cfg.Insecure = append(cfg.Insecure, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Insecure peer link",
				Detail:  fmt.Sprintf("Peer %q: %v (in the library block: peer_url, peer_fingerprint, peer_insecure). Until then the agent does not read this peer: its fact fails with this error.", p.Name, risk),
				Subject: p.DeclRange.Ptr()})
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Insecure peer link accepted",
				Detail:  fmt.Sprintf("Peer %q at %s is read without verifying who answers (insecure = true): anyone on the network between the nodes can answer in its place. Pin the partner with fingerprint over https:// when you can.", p.Name, ps.URL),
				Subject: p.DeclRange.Ptr()})
		}
	}
	if cfg.Agent.InsecurePlainHTTP && !loopbackListen(cfg.Agent.Listen) {
		rng := l.agentSet["insecure_plain_http"]
		d := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Plain HTTP on the network",
			Detail:  fmt.Sprintf("The agent serves plain HTTP on %s (insecure_plain_http = true): its credentials and answers cross the network in the clear. Remove the setting to serve TLS with the agent's own identity.", cfg.Agent.Listen),
			Subject: rng.Ptr()}
		if cfg.Agent.ServesTLS() { // the operator's certificate wins
			d.Summary = "insecure_plain_http has no effect"
			d.Detail = fmt.Sprintf("The agent serves TLS on %s with tls_cert_file and tls_key_file; insecure_plain_http = true is ignored. Remove the setting.", cfg.Agent.Listen)
		}
		diags = append(diags, d)
	}
	if (cfg.Agent.TLSCertFile == "") != (cfg.Agent.TLSKeyFile == "") {
		name := "tls_cert_file"
		if cfg.Agent.TLSCertFile == "" {
			name = "tls_key_file"
		}
		rng := l.agentSet[name]
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incomplete TLS settings",
			Detail:  "tls_cert_file and tls_key_file go together: set both, or neither to use the identity the agent generates in data_dir/tls.",
			Subject: rng.Ptr()})
	}
	for _, c := range cfg.Credentials {
		if c.VerifiedClient && cfg.Agent.TLSClientCAFile == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No client CA",
				Detail:  fmt.Sprintf("Credential %q accepts verified client certificates, but the agent block sets no tls_client_ca_file to verify them with.", c.Name),
				Subject: c.DeclRange.Ptr()})
		}
	}
	return append(diags, cfg.Insecure...)
}

// peerSecurity decodes a peer block's fingerprint, token_file and
// insecure arguments into ps.
func (f *fileDecoder) peerSecurity(ps *facts.PeerSpec, attrs hcl.Attributes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if attr, ok := attrs["fingerprint"]; ok {
		var d hcl.Diagnostics
		ps.Fingerprint, d = f.fingerprint(attr, "`tocsin identity` on the partner prints it")
		diags = append(diags, d...)
	}
	if attr, ok := attrs["token_file"]; ok {
		s, d := requiredString(attr, f.ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			ps.TokenFile = f.path(s)
			if secret, err := apiauth.ReadSecretFile(ps.TokenFile); err != nil {
				diags = append(diags, attrError(attr, "Unusable token file", err.Error()+"."))
			} else if _, err := apiauth.NewToken("peer", apiauth.RolePeer, secret); err != nil {
				// The partner would refuse it.
				diags = append(diags, attrError(attr, "Unusable token file", fmt.Sprintf("The partner refuses the token in %s: %v.", ps.TokenFile, err)))
			}
		}
	}
	if attr, ok := attrs["insecure"]; ok {
		v, d := attrValue(attr, f.ctx, cty.Bool)
		diags = append(diags, d...)
		ps.Insecure = !d.HasErrors() && !v.IsNull() && v.True()
	}
	if attr, ok := attrs["settings_from"]; ok {
		v, d := attrValue(attr, f.ctx, cty.Bool)
		diags = append(diags, d...)
		ps.SettingsFrom = !d.HasErrors() && !v.IsNull() && v.True()
	}
	return diags
}

// fingerprint decodes a certificate fingerprint argument into the form
// identity.Fingerprint prints; where says where the operator finds it.
func (f *fileDecoder) fingerprint(attr *hcl.Attribute, where string) (string, hcl.Diagnostics) {
	s, diags := requiredString(attr, f.ctx)
	if diags.HasErrors() {
		return "", diags
	}
	fp, err := identity.ParseFingerprint(s)
	if err != nil {
		return "", hcl.Diagnostics{attrError(attr, "Invalid fingerprint", err.Error()+"; "+where+".")}
	}
	return identity.FormatFingerprint(fp), nil
}
